// The YAML the wizard writes from its fields, and the templates it starts from. Strings are JSON-quoted, which is
// valid YAML and safe for any input. The window writes YAML; it never reads YAML to learn anything (the engine's
// check_spec answers with typed fields and diagnostics).

/** The demo image's tag, until the engine says otherwise (`demo_image`). */
export const DEMO_IMAGE = "crane-demo:0.1.0";

/** Starting points for the wizard: the beginner's web app, an app that crashes (to watch self-healing) and a
 * CPU-bound app with an autoscaler (to watch scaling). */
export const TEMPLATES = {
  web: {
    title: "Web app",
    text: "3 replicas of the demo server behind the load balancer, with health checks.",
    values: { name: "web", image: DEMO_IMAGE, replicas: "3", port: "8080", command: "/demo --port 8080", cpu: "0.5", memory: "64Mi", health: true, as: false },
  },
  crashloop: {
    title: "App with a crash loop",
    text: "Each instance exits after 8 s: watch Crane restart it with growing back-off.",
    values: { name: "crashy", image: DEMO_IMAGE, replicas: "2", port: "8080", command: "/demo --port 8080 --exit-after-ms 8000 --exit-code 1", cpu: "0.25", memory: "32Mi", health: false, as: false },
  },
  cpu: {
    title: "CPU-bound app with autoscaling",
    text: "1 to 5 replicas on CPU 50 %; send load to /work?ms=20 from the Scaling view.",
    values: { name: "busy", image: DEMO_IMAGE, replicas: "1", port: "8080", command: "/demo --port 8080", cpu: "0.5", memory: "64Mi", health: true, as: true, asMin: "1", asMax: "5", asMetric: "cpu", asTarget: "50", asStab: "30s" },
  },
};

/** The wizard's empty form. */
export const BLANK = { name: "", image: DEMO_IMAGE, replicas: "2", port: "8080", command: "", cpu: "", memory: "", health: false, as: false, asMin: "1", asMax: "5", asMetric: "rps", asTarget: "20", asStab: "30s" };

const q = (s) => JSON.stringify(s);

/** The spec for the wizard's values. */
export function specYaml(v) {
  const lines = [`name: ${q(v.name)}`, `image: ${q(v.image)}`, `replicas: ${v.replicas === "" ? 1 : v.replicas}`];
  if (v.command) lines.push(`command: [${v.command.split(/\s+/).filter(Boolean).map(q).join(", ")}]`);
  if (v.port) lines.push("ports:", `  - container: ${v.port}`);
  const res = [];
  if (v.cpu) res.push(`cpu: ${v.cpu}`);
  if (v.memory) res.push(`memory: ${q(v.memory)}`);
  if (res.length) lines.push(`resources: { ${res.join(", ")} }`);
  if (v.health && v.port) {
    lines.push(
      "health:",
      `  liveness:  { type: http, path: /health, port: ${v.port} }`,
      `  readiness: { type: http, path: /ready, port: ${v.port} }`,
    );
  }
  if (v.as) {
    const a = [`min: ${v.asMin || 1}`, `max: ${v.asMax || 5}`, `metric: ${v.asMetric || "rps"}`, `target: ${v.asTarget || 50}`];
    if (v.asStab) a.push(`scaleDownStabilization: ${q(v.asStab)}`);
    lines.push(`autoscaling: { ${a.join(", ")} }`);
  }
  return lines.join("\n") + "\n";
}
