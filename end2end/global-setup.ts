// Waits for the keyflow server to be ready (cargo-leptos starts it without waiting).
export default async function globalSetup(): Promise<void> {
  const base = process.env.KEYFLOW_BASE_URL ?? "http://localhost:3000";
  const deadline = Date.now() + 60_000;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(new URL("/-/health/ready/", base));
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`keyflow did not become ready at ${base} within 60 s (${last})`);
}
