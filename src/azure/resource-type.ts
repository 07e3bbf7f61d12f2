// Turns an ARM request URL into a bounded, identifier-free label: the resource type path.
// Names, subscription ids, resource groups and query strings are dropped so that metric labels
// cannot grow without bound or leak which tenants exist.

const TYPE_WORD = /^[A-Za-z][A-Za-z0-9.\-]*$/;

const word = (s: string | undefined): string => (s !== undefined && TYPE_WORD.test(s) ? s : 'other');

/**
 * `/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/a/databases/b`
 * becomes `Microsoft.DBforPostgreSQL/flexibleServers/databases`. ARM paths alternate type and name after
 * a provider namespace, so an action keeps its place as the last type word
 * (`Microsoft.DBforPostgreSQL/flexibleServers/restart`). Extension resources keep both providers:
 * `Microsoft.DBforPostgreSQL/flexibleServers/providers/Microsoft.Insights/diagnosticSettings`.
 */
export function armResourceTypeOf(url: string): string {
  let segments: string[];
  try {
    segments = new URL(url).pathname.split('/').filter(Boolean);
  } catch {
    return 'other';
  }
  const providerAt = segments.flatMap((s, i) => (s.toLowerCase() === 'providers' ? [i] : []));
  if (providerAt.length === 0) {
    // Subscription- or resource-group-level paths: the last type word says enough.
    const types = segments.filter((_, i) => i % 2 === 0);
    return types.length ? word(types[types.length - 1]) : 'root';
  }
  const blocks = providerAt.map((p, k) => {
    const end = providerAt[k + 1] ?? segments.length;
    const parts = [word(segments[p + 1])];
    for (let i = p + 2; i < end; i += 2) parts.push(word(segments[i]));
    return parts.join('/');
  });
  return blocks.join('/providers/');
}

/**
 * The `resourceUri` parameter of extension-resource operations (diagnostic settings and their
 * categories): @azure/arm-monitor puts the `/` in front itself, so a resource id must lose its own.
 */
export function extensionResourceUri(resourceId: string): string {
  return resourceId.replace(/^\/+/, '').replace(/\/+$/, '');
}
