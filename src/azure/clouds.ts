// ARM endpoints and Microsoft Entra authority hosts of the Azure clouds the operator can target. The
// credential scope must match the ARM endpoint of the cloud, otherwise Entra issues a token ARM rejects.
import { AzureAuthorityHosts } from '@azure/identity';

export type AzureCloudName = 'AzurePublicCloud' | 'AzureUSGovernment' | 'AzureChinaCloud';

export interface AzureCloud {
  armEndpoint: string;
  authorityHost: string;
}

export const AZURE_CLOUDS: Readonly<Record<AzureCloudName, AzureCloud>> = {
  AzurePublicCloud: { armEndpoint: 'https://management.azure.com', authorityHost: AzureAuthorityHosts.AzurePublicCloud },
  AzureUSGovernment: { armEndpoint: 'https://management.usgovcloudapi.net', authorityHost: AzureAuthorityHosts.AzureGovernment },
  AzureChinaCloud: { armEndpoint: 'https://management.chinacloudapi.cn', authorityHost: AzureAuthorityHosts.AzureChina },
};

/** Origin of an ARM endpoint without a trailing slash; only https is accepted because tokens travel on it. */
export function normaliseArmEndpoint(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.protocol !== 'https:') throw new Error(`ARM endpoint must use https, got ${url.protocol}//${url.host}`);
  return url.origin;
}

/** The `.default` scope a token for this ARM endpoint must carry. */
export function armScope(armEndpoint: string): string {
  return `${normaliseArmEndpoint(armEndpoint)}/.default`;
}

/** True when the endpoint's host is a loopback address, i.e. a local emulator rather than a real cloud. */
export function isLoopbackEndpoint(endpoint: string): boolean {
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(host) || host === '::1';
}
