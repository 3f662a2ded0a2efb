/** The commands, for main.ts: each module is loaded only when one of its commands is needed. */
import type { Command } from 'commander';

export type Register = (program: Command) => void;

/** The commands, in help's order: the names each module registers, and how to load it. */
export const COMMANDS: readonly { names: readonly string[]; load: () => Promise<Register> }[] = [
  { names: ['run'], load: async () => (await import('./run.ts')).registerRun },
  { names: ['scan'], load: async () => (await import('./scan.ts')).registerScan },
  { names: ['up'], load: async () => (await import('./up.ts')).registerUp },
  { names: ['events'], load: async () => (await import('./inspect.ts')).registerEvents },
  { names: ['errors'], load: async () => (await import('./inspect.ts')).registerErrors },
  { names: ['runs'], load: async () => (await import('./inspect.ts')).registerRuns },
  {
    names: ['test-event-pattern'],
    load: async () => (await import('./test-event-pattern.ts')).registerTestEventPattern,
  },
  { names: ['dlq', 'replay'], load: async () => (await import('./delivery.ts')).registerDelivery },
  { names: ['mapping'], load: async () => (await import('./mapping.ts')).registerMapping },
  { names: ['reset'], load: async () => (await import('./reset.ts')).registerReset },
  { names: ['gc'], load: async () => (await import('./gc.ts')).registerGc },
];
