/**
 * The extract task's exit codes: the contract between the task (which exits with them), the stack's
 * task-stopped rule and the task-stopped handler (which read them from ECS's task state change).
 */

/** ECS's detail type for task state changes (source `aws.ecs`). */
export const ECS_TASK_STATE_CHANGE = 'ECS Task State Change';

export const TaskExit = {
  /** Extracted, or nothing to extract (the object changed or went away since its notification). */
  extracted: 0,
  /** Failed, and the bus could not be told (configuration, PutEvents): the task-stopped handler tells it. */
  unreported: 1,
  /** Failed (not CSV, S3, a body cut short), and the task put `extraction-failed` itself. */
  reported: 2,
} as const;
