// The Azure part lives in server-azure/ (one file per step); this keeps its import path for the
// TenantDatabase controller.
export { azureServerPart, ADOPT_ANNOTATION, GENERATED_ANNOTATION } from './server-azure/index.js';
