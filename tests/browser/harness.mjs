// The environment of a browser test, shared by the ohif-*.test.mjs files: what the calling
// script (scripts/browser-test.sh, scripts/browser-smart-test.sh) must set, and progress lines.

/** The value of an environment variable the calling script sets; exits 2 when it is missing. */
export function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set (see the script that runs this test)`);
    process.exit(2);
  }
  return value;
}

/** A progress printer: `[tag] message`. */
export function stepper(tag) {
  return (message) => console.log(`[${tag}] ${message}`);
}
