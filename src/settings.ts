// The part of the operator's configuration controllers read (the rest is the manager's).
import type { AzureSettings, OperatorConfig, PostgresSettings } from './config.js';

export type { AzureSettings, PostgresSettings };

export type ControllerSettings = Pick<OperatorConfig, 'azure' | 'postgres' | 'sourceArtifactOrigin'>;

export const DEFAULT_CONTROLLER_SETTINGS: ControllerSettings = {
  azure: { cloud: 'AzurePublicCloud', armEndpoint: undefined, authorityHost: undefined, caFile: undefined, staticToken: undefined },
  postgres: { caFile: undefined, hostsFile: undefined },
};
