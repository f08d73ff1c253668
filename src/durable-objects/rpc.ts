/**
 * The RPC surfaces of the write path's Durable Objects, as interfaces: the Worker and each
 * object reach the others through these, so no module imports another's class (and env.ts
 * imports none of them). Each class declares that it implements its interface.
 * @module
 */
import type { BindCommand, BindOutcome, Binding, Change } from '../core/binding-shard.ts'
import type { IndexedEntry } from '../core/log-sequencer.ts'
import type { Appended, AppRecord, SequencedResult, StoredBinding, SubjectRecord } from '../core/ports.ts'
import type { Refusal } from '../core/refusals.ts'
import type { SnapshotResult } from '../core/snapshot-job.ts'
import type { Subject } from '../protocol/entry.ts'

/** The sequencer: the registry, the order of entries, rounds, checkpoints, snapshots. */
export interface SequencerRpc {
  registerApp(id: string, name: string, tokenHash: string): Promise<{ ok: true; num: number } | Refusal>
  revokeApp(id: string): Promise<{ ok: true; removed: number } | Refusal>
  apps(): Promise<AppRecord[]>
  appNames(ids: string[]): Promise<Record<string, string>>
  /** App `id`'s app-register entry (base64) with its receipt: it ties the id to the number entries carry. */
  appRegistration(id: string): Promise<{ index: number; entry: string; receipt: string } | Refusal>
  append(source: number, seq: number, entries: Uint8Array[]): Promise<Appended>
  sequenced(indexes: number[]): Promise<SequencedResult>
  checkpointNote(): Promise<string | Refusal>
  entries(from: number, limit: number): Promise<IndexedEntry[]>
  snapshot(): Promise<SnapshotResult | Refusal>
  snapshotSizes(): Promise<number[]>
}

/** A binding shard: the bindings of the subjects it owns. Every call names the shard it is meant for. */
export interface ShardRpc {
  bind(shard: number, cmds: BindCommand[]): Promise<BindOutcome[]>
  unbind(shard: number, subject: Subject, appId: string, reason: 'app' | 'holder', now: number): Promise<{ ok: true; index: number } | Refusal>
  reassign(shard: number, subject: Subject, disconnectedAt: number, now: number): Promise<{ ok: true; removed: number } | Refusal>
  sweep(shard: number, now: number): Promise<{ ok: true; expired: number } | Refusal>
  removeApp(shard: number, app: number, limit: number): Promise<{ ok: true; removed: number; more: boolean } | Refusal>
  bindingsOf(shard: number, subject: Subject, phone: string): Promise<Binding[]>
  history(shard: number, subject: Subject, limit: number): Promise<Change[]>
  recordsAsOf(shard: number, size: number, after: Subject | null, limit: number): Promise<SubjectRecord[]>
  bindingsByIndexAsOf(shard: number, size: number, after: number, limit: number): Promise<StoredBinding[]>
  pendingProjections(shard: number): Promise<number>
}

/** The one sequencer of the log. */
export function sequencerStub(ns: DurableObjectNamespace): SequencerRpc {
  return ns.getByName('log') as unknown as SequencerRpc
}

/** Binding shard `shard`. */
export function shardStub(ns: DurableObjectNamespace, shard: number): ShardRpc {
  return ns.getByName(`shard-${shard}`) as unknown as ShardRpc
}
