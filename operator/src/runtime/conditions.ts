// Status conditions, upserted by type (STYLE habit 3). lastTransitionTime moves only when the
// status flips, so it says how long the object has been Ready/not Ready, not when the operator
// last looked. Write the result through the status subresource.

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  /** A CamelCase constant. */
  reason: string;
  /** For humans; never a secret value. */
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

/**
 * Returns a new array with `c` upserted by type (order kept, new types appended). The input is
 * not modified. `now` defaults to the current time.
 */
export function setCondition(
  conditions: Condition[] | undefined,
  c: Omit<Condition, 'lastTransitionTime'>,
  now: Date = new Date(),
): Condition[] {
  const list = conditions ?? [];
  const i = list.findIndex((x) => x.type === c.type);
  const existing = i >= 0 ? list[i] : undefined;
  const lastTransitionTime =
    existing && existing.status === c.status
      ? existing.lastTransitionTime
      : // metav1.Time has second precision; keep what the apiserver would store
        now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const next: Condition = { ...c, lastTransitionTime };
  if (i < 0) return [...list, next];
  return list.map((x, j) => (j === i ? next : x));
}

export function getCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True when the condition of this type exists with status True. */
export function isConditionTrue(conditions: Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

/** True when setCondition would change nothing but lastTransitionTime bookkeeping (skip the status write). */
export function conditionUnchanged(
  conditions: Condition[] | undefined,
  c: Omit<Condition, 'lastTransitionTime'>,
): boolean {
  const e = getCondition(conditions, c.type);
  return (
    e !== undefined &&
    e.status === c.status &&
    e.reason === c.reason &&
    e.message === c.message &&
    e.observedGeneration === c.observedGeneration
  );
}
