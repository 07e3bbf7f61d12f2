-- Argo CD health of a tenantdb.io/Migration, from the conditions the operator writes (Ready, Reconciling,
-- Stalled, each with observedGeneration). Installed through argocd-cm resource.customizations.health.
-- Runs in Argo CD's sandbox: base, table and a safe os only (no string library).
local hs = {}

local function condition(ctype)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  if c.reason ~= nil then
    return c.reason
  end
  return fallback
end

local generation = obj.metadata.generation
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end
if generation ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

local ready = condition("Ready")
local reconciling = condition("Reconciling")
if ready ~= nil and ready.status == "True" and (ready.observedGeneration == nil or generation == nil or ready.observedGeneration >= generation)
    and (reconciling == nil or reconciling.status ~= "True") then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end
hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready, "Not ready")
else
  hs.message = "Waiting for the Ready condition"
end
return hs
