// Builds dist/ whenever npm prepares the package: `npm install` in this
// folder, `npm pack` and publishing, and installs from a git URL or a
// folder. A folder fresh from a clone has no TypeScript compiler yet, so
// this installs the locked dev dependencies first.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });

if (!existsSync(new URL("../node_modules/typescript/package.json", import.meta.url))) {
  run(npm, ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]);
}
run(process.execPath, [fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url)), "-p", "tsconfig.json"]);
