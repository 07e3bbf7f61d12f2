// Dev fixture for the examples of this area (filled in by the issue that makes them real).
import type { DevFixtureContext } from './context.js';

export async function prepare(_ctx: DevFixtureContext): Promise<void> {}
