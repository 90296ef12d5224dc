#!/usr/bin/env node
// The `localmesh` command. Runs the TypeScript sources under plain Node (no Electron) through tsx's loader.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./index.ts');
process.exitCode = await main(process.argv.slice(2));
