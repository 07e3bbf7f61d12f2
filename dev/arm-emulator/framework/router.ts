// Route table keyed by ARM path templates. ARM treats path segments case-insensitively
// (`resourceGroups` and `resourcegroups` are the same), and so does this router.
import { ArmError } from './errors.js';
import type { RouteSpec } from './types.js';

interface CompiledRoute {
  spec: RouteSpec;
  regex: RegExp;
  names: string[];
  /** Literal segments count: more literals win over parameters when several templates match. */
  literals: number;
}

export interface RouteMatch {
  route: RouteSpec;
  params: Record<string, string>;
}

function compile(spec: RouteSpec): CompiledRoute {
  const names: string[] = [];
  let literals = 0;
  const segments = spec.path.replace(/\/+$/, '').split('/').filter(Boolean);
  const pattern = segments
    .map((seg) => {
      const m = /^\{(\w+)\}$/.exec(seg);
      if (m) {
        names.push(m[1]!);
        return '/([^/]+)';
      }
      literals++;
      return '/' + seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return { spec, regex: new RegExp(`^${pattern}/?$`, 'i'), names, literals };
}

export class Router {
  private routes: CompiledRoute[] = [];

  add(spec: RouteSpec): void {
    this.routes.push(compile(spec));
    this.routes.sort((a, b) => b.literals - a.literals);
  }

  /**
   * Finds the route for method+path. Throws ARM's 404 when no template matches the path, and 405 when the
   * path exists but not for this method.
   */
  match(method: string, path: string): RouteMatch {
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.regex.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.spec.method !== method.toUpperCase()) continue;
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1]!)));
      return { route: r.spec, params };
    }
    if (pathMatched) {
      throw new ArmError(405, 'HttpMethodNotSupported', `The http method '${method}' is not supported for the request path '${path}'.`);
    }
    const provider = /\/providers\/([^/]+)\/([^/]+)/i.exec(path);
    if (provider) {
      throw new ArmError(
        404,
        'InvalidResourceType',
        `The resource type '${provider[2]}' could not be found in the namespace '${provider[1]}' for the request path '${path}'.`,
      );
    }
    throw new ArmError(404, 'NotFound', `No HTTP resource was found that matches the request URI '${path}'.`);
  }
}
