// Standalone ARM emulator process for the local environment:
//   tsx dev/arm-emulator/main.ts --dir <stateDir> --ca-cert <file> --ca-key <file> [--port N] [--host 127.0.0.1] [--no-persist]
// Writes <dir>/arm.json ({ endpoint, controlEndpoint, caFile, pid, hostsFile, authorityHost }) once listening; on SIGTERM or
// SIGINT stops every PostgreSQL it started and exits 0. State is kept in <dir>/state.json (see README).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startArmEmulator } from './emulator.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      'ca-cert': { type: 'string' },
      'ca-key': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'no-persist': { type: 'boolean' },
      // Benchmarks: servers without a PostgreSQL instance (ARM behaviour only).
      'no-instances': { type: 'boolean' },
    },
  });
  if (!values.dir || !values['ca-cert'] || !values['ca-key']) {
    console.error('usage: main.ts --dir <stateDir> --ca-cert <file> --ca-key <file> [--port N] [--host 127.0.0.1]');
    process.exit(2);
  }
  const dir = path.resolve(values.dir);
  const emulator = await startArmEmulator({
    stateDir: dir,
    caCertFile: path.resolve(values['ca-cert']),
    caKeyFile: path.resolve(values['ca-key']),
    host: values.host ?? '127.0.0.1',
    port: values.port ? Number(values.port) : 0,
    // Resources and their PostgreSQL data survive a restart of the emulator (npm run dev).
    persist: !values['no-persist'],
    postgresInstances: !values['no-instances'],
  });
  if (!emulator.ctx.specs.available) console.warn(`arm-emulator: specs not found at ${emulator.ctx.specs.root}; request bodies are not validated`);
  const info = { endpoint: emulator.endpoint, controlEndpoint: emulator.controlEndpoint, caFile: emulator.caFile, pid: process.pid, hostsFile: emulator.hostsFile, authorityHost: emulator.authorityHost };
  const file = path.join(dir, 'arm.json');
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n');
  fs.renameSync(tmp, file);
  console.log(`arm-emulator listening on ${emulator.endpoint}${values['no-instances'] ? ' (servers have no PostgreSQL instance: --no-instances)' : ''}`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`arm-emulator: ${signal}, stopping PostgreSQL instances`);
    emulator
      .stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        console.error('arm-emulator: shutdown failed', err);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('arm-emulator failed to start:', err);
  process.exit(1);
});
