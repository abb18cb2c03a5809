#!/usr/bin/env node
/** Process entry of the CLI: run, then exit with the command's code. */
import { runCli } from "./main.js";

process.exitCode = await runCli(process.argv.slice(2));
