// ARM's throttling category of a request: which of the subscription's token buckets (reads, writes,
// deletes) it draws from. Both the request budget (budget.ts) and the ARM metrics (metrics.ts) label by
// it, so it lives apart from either.
export type RequestCategory = 'reads' | 'writes' | 'deletes';

export function categoryOf(method: string): RequestCategory {
  switch (method.toUpperCase()) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
      return 'reads';
    case 'DELETE':
      return 'deletes';
    default:
      return 'writes';
  }
}
