/**
 * A cap on V8's young generation, applied from inside the process.
 *
 * Why: under replicant's allocation rate (decoded elements, encoded commands, short-lived Buffers) V8
 * grows each semi-space of the new space to its 16 MiB maximum, and the young generation then holds
 * ~50 MB of RSS that does nothing for speed here: on test/bigkeys (5M-element keys) the peak RSS was
 * 164–201 MB with it, ~130 MB with the new space held at 8 MiB, and a 1M-key full sync used the same
 * CPU either way (bench/full-sync, 1.47–1.64 s vs 1.54–2.21 s on a loaded machine).
 *
 * How: `--max-semi-space-size` is read only when the heap is set up (it can't be changed from inside),
 * but `--semi-space-growth-factor` is read each time the new space grows. A timer watches the new
 * space's size and sets the factor to 1 (no growth) once it reaches the cap, and back to 2 if V8 has
 * shrunk it since. Best effort by design: see CHECK_MS. Off when the user set the young generation themselves (`node --max-semi-space-size`
 * or NODE_OPTIONS) or with REPLICANT_YOUNG_GEN_CAP_MB=0.
 */
import v8 from 'node:v8';

const DEFAULT_CAP_MB = 8;
/**
 * V8 grows the new space (×2) once more bytes have survived scavenges since its last growth than it
 * holds; from 8 MiB that takes 8 MiB of survivors, far more than replicant's data path keeps alive in
 * 10 ms. A burst that does is the one case where the cap is passed (by one step).
 */
const CHECK_MS = 10;
let started = false;

export function capYoungGeneration(): void {
  if (started) return;
  started = true;
  const own = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('semi-space'));
  const capMb = Number(process.env.REPLICANT_YOUNG_GEN_CAP_MB ?? DEFAULT_CAP_MB);
  if (own || !Number.isFinite(capMb) || capMb <= 0) return;
  const cap = capMb * 1024 * 1024;
  let frozen = false;
  const check = () => {
    const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (ns === undefined) return;
    const full = ns.space_size >= cap;
    if (full === frozen) return;
    frozen = full;
    v8.setFlagsFromString(`--semi-space-growth-factor=${full ? 1 : 2}`);
  };
  check();
  setInterval(check, CHECK_MS).unref();
}
