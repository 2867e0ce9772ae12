/**
 * Summarises a V8 .cpuprofile: where the sampled time went, by component (idle, GC, the Node
 * runtime, each npm package, each of the project's folders) and by function (self time), plus the
 * inclusive time of the named functions (synchronous work only: an `await` ends a stack).
 *
 * @example
 * const summary = summarizeProfile(JSON.parse(await readFile(path, "utf8")), { inclusive: ["reserve"] });
 */
type ProfileNode = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
export type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

export type ProfileSummary = {
  totalMs: number;
  byComponent: { component: string; ms: number; share: number }[];
  byFunction: { fn: string; component: string; ms: number; share: number }[];
  inclusive: { fn: string; ms: number; share: number }[];
  /** For the top native functions by self time: which JavaScript frames called them (nearest non-native, non-runtime frame). */
  callers: { fn: string; callers: { caller: string; share: number }[] }[];
};

export function componentOf(url: string, functionName: string): string {
  if (url === "") {
    if (functionName === "(idle)") return "(idle)";
    if (functionName === "(garbage collector)") return "(garbage collector)";
    if (functionName === "(program)") return "(program: V8/native)";
    return "(native)";
  }
  if (url.startsWith("node:")) return "node runtime";
  const modules = url.lastIndexOf("/node_modules/");
  if (modules !== -1) {
    const rest = url.slice(modules + "/node_modules/".length).split("/");
    return rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : (rest[0] as string);
  }
  const project = url.match(/\/(api\/src\/[^/]+|sdk\/src|indexer\/[^/]+|bench\/[^/]+)/);
  return project ? (project[1] as string) : url;
}

export function summarizeProfile(profile: CpuProfile, { inclusive = [], top = 15 }: { inclusive?: string[]; top?: number } = {}): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time before sample i, so sample i lasted until the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + us);
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const components = new Map<string, number>();
  const functions = new Map<string, { component: string; us: number }>();
  const inclusiveUs = new Map<string, number>(inclusive.map((name) => [name, 0]));
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const component = componentOf(url, functionName);
    components.set(component, (components.get(component) ?? 0) + us);
    const key = `${functionName || "(anonymous)"} ${url ? `${url.replace(/^.*\/(node_modules|work\/main)\//, "")}:${lineNumber + 1}` : ""}`.trim();
    const entry = functions.get(key) ?? { component, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    if (inclusive.length > 0) {
      const seen = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const name = byId.get(at)?.callFrame.functionName;
        if (name && inclusiveUs.has(name) && !seen.has(name)) {
          seen.add(name);
          inclusiveUs.set(name, (inclusiveUs.get(name) ?? 0) + us);
        }
      }
    }
  }
  // Who calls the costliest native functions: the nearest frame outside the runtime and natives.
  const nativeTop = [...functions.entries()].filter(([, f]) => f.component === "(native)").sort((a, b) => b[1].us - a[1].us).slice(0, 3).map(([key]) => key);
  const callerUs = new Map<string, Map<string, number>>(nativeTop.map((key) => [key, new Map()]));
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node || node.callFrame.url !== "") continue;
    const key = node.callFrame.functionName;
    const bucket = callerUs.get(key);
    if (!bucket) continue;
    let caller = "(none)";
    for (let at = parent.get(id); at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame && frame.url !== "" && !frame.url.startsWith("node:")) {
        caller = `${frame.functionName || "(anonymous)"} ${frame.url.replace(/^.*\/(node_modules|work\/main)\//, "")}:${frame.lineNumber + 1}`;
        break;
      }
    }
    bucket.set(caller, (bucket.get(caller) ?? 0) + us);
  }
  const ms = (us: number) => Math.round(us / 100) / 10;
  const share = (us: number) => Math.round((us / totalUs) * 1000) / 1000;
  return {
    totalMs: ms(totalUs),
    byComponent: [...components.entries()].sort((a, b) => b[1] - a[1]).map(([component, us]) => ({ component, ms: ms(us), share: share(us) })),
    byFunction: [...functions.entries()]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, top)
      .map(([fn, { component, us }]) => ({ fn, component, ms: ms(us), share: share(us) })),
    inclusive: [...inclusiveUs.entries()].sort((a, b) => b[1] - a[1]).map(([fn, us]) => ({ fn, ms: ms(us), share: share(us) })),
    callers: [...callerUs.entries()].map(([fn, bucket]) => ({
      fn,
      callers: [...bucket.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([caller, us]) => ({ caller, share: share(us) })),
    })),
  };
}
