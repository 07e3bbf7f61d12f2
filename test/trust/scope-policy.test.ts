// The scope policy as pure logic: parsing (what the installer can get wrong) and decisions.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from '@jest/globals';
import { adoptionDecision, operatorScopeDecision, parseScopePolicy } from '../../src/azure/scope-policy.js';
import { ConfigError, parseConfig } from '../../src/config.js';

const SUB = '6a1f3c2e-8b4d-4e7a-9c0f-1d2e3f4a5b6c';
const policy = parseScopePolicy(`
rules:
  - namespaceSelector: { matchLabels: { team: payments } }
    subscriptions: ["${SUB.toUpperCase()}"]
    resourceGroups: ["payments-*"]
  - namespaces: [ops]
    subscriptions: ["*"]
    resourceGroups: ["*"]
    allowAdoption: true
`);

test('deny by default: no policy, an empty one, or no matching rule grants nothing', () => {
  const scope = { subscriptionId: SUB, resourceGroup: 'payments-rg' };
  expect(operatorScopeDecision(undefined, { name: 'x', labels: {} }, scope)).toMatchObject({ allowed: false, reason: 'ScopeNotAllowed' });
  expect(operatorScopeDecision(parseScopePolicy(''), { name: 'x', labels: {} }, scope).allowed).toBe(false);
  expect(operatorScopeDecision(policy, { name: 'shop', labels: { team: 'other' } }, scope).allowed).toBe(false);
});

test('selectors, names and patterns (case-insensitive, * anywhere); adoption only where allowAdoption', () => {
  const ns = { name: 'shop', labels: { team: 'payments' } };
  expect(operatorScopeDecision(policy, ns, { subscriptionId: SUB, resourceGroup: 'Payments-RG' }).allowed).toBe(true);
  expect(operatorScopeDecision(policy, ns, { subscriptionId: SUB, resourceGroup: 'billing-rg' }).allowed).toBe(false);
  expect(adoptionDecision(policy, ns, { subscriptionId: SUB, resourceGroup: 'payments-rg' })).toMatchObject({ allowed: false, reason: 'AdoptionNotAllowed' });
  expect(adoptionDecision(policy, { name: 'ops', labels: undefined }, { subscriptionId: SUB, resourceGroup: 'any' }).allowed).toBe(true);
});

test('a malformed policy is refused with the field named; the flag reads the file', () => {
  expect(() => parseScopePolicy('rules: [{ subscriptions: ["*"], resourceGroups: ["*"] }]')).toThrow(/namespaces or namespaceSelector/);
  expect(() => parseScopePolicy('rules: [{ namespaces: [a], resourceGroups: ["*"] }]')).toThrow(/subscriptions/);
  expect(() => parseScopePolicy('rules: [{ namespaces: [a], subscriptions: ["*"], resourceGroups: ["*"], allowAdoptoin: true }]')).toThrow();
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'scope-')), 'policy.yaml');
  fs.writeFileSync(file, 'rules:\n  - namespaces: [a]\n    subscriptions: ["*"]\n    resourceGroups: [rg]\n');
  const cfg = parseConfig([`--azure-scope-policy=${file}`], {});
  expect(cfg !== 'help' && cfg.azure.scopePolicy?.rules[0]?.resourceGroups).toEqual(['rg']);
  expect(() => parseConfig(['--azure-scope-policy=/nonexistent/policy.yaml'], {})).toThrow(ConfigError);
  const none = parseConfig([], {});
  expect(none !== 'help' && none.azure.scopePolicy).toBeUndefined();
});
