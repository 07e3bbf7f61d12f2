// Types shared by the emulator core and the resource-provider handlers plugged into it.
import type { IncomingHttpHeaders } from 'node:http';

/** How a request counts for throttling and in the request log (LRO status polls count as reads). */
export type RequestKind = 'read' | 'write' | 'delete' | 'poll';

export interface ArmRequest {
  method: string;
  /** URL path as sent (not lower-cased). */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Template parameters of the matched route, e.g. { subscriptionId, resourceGroupName, serverName }. */
  params: Record<string, string>;
  /** Parsed JSON body (undefined when the request had none). */
  body: unknown;
  apiVersion: string | undefined;
  /** Caller identity used for throttling: the JWT `oid`/`appid` claim, or a hash of an opaque token. */
  principal: string;
  /** `https://host:port` of the emulator, for building Location / Azure-AsyncOperation URLs. */
  baseUrl: string;
  requestId: string;
}

export interface ArmResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (req: ArmRequest) => Promise<ArmResponse> | ArmResponse;

/** A reference to a swagger definition: spec file path relative to the specs root + definition name. */
export interface SchemaRef {
  file: string;
  definition: string;
}

export interface RouteSpec {
  method: 'GET' | 'PUT' | 'PATCH' | 'POST' | 'DELETE' | 'HEAD';
  /** ARM path template, matched case-insensitively, e.g. `/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}`. */
  path: string;
  /** Accepted api-versions; an empty list accepts any (used by the LRO polling endpoints). */
  apiVersions: string[];
  /** Resource type named in ARM's api-version error, e.g. `Microsoft.DBforPostgreSQL/flexibleServers`. */
  resourceType: string;
  /** When set, the JSON body is validated against this swagger definition before the handler runs. */
  requestSchema?: SchemaRef;
  /** Defaults from the method: GET→read, DELETE→delete, others→write. */
  kind?: RequestKind;
  handler: Handler;
}
