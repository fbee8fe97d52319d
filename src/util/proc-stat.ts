// Linux /proc/<pid>/stat and /proc/<pid>/task/<tid>/stat lines (proc(5)): the command name may hold spaces and
// parentheses, so the fields are cut after its last ')'. For a thread's or process's CPU time and scheduling
// policy (the archive worker's counters and priority, the benchmarks).

/** The fields after the command name: [0] is field 3 (state), so field n of proc(5) is [n - 3]. */
export function statFields(text: string): string[] {
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime (fields 14, 15) of a stat line, in ms (clock ticks of 10 ms). */
export function statCpuMs(text: string): number {
  const f = statFields(text);
  return (Number(f[11]) + Number(f[12])) * 10;
}
