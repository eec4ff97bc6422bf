import base from "../playwright.config";
import { defineConfig } from "@playwright/test";

// The README's screenshots, taken by hand against a running keyflow (not part of .ci/test):
//   cd end2end && KEYFLOW_TEST_PASSWORD=… KEYFLOW_TEST_TOKEN=… \
//     npx playwright test -c screenshots/playwright.config.ts
// Each test writes one PNG beside this file.
export default defineConfig({
  ...base,
  testDir: ".",
  testMatch: "readme.spec.ts",
  globalSetup: "../global-setup.ts",
  reporter: [["list"]],
  outputDir: "../test-results/screenshots",
});
