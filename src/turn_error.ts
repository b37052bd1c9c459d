/**
 * Why a turn failed: a leaf every layer may name, so that the journal's
 * records, the model's verdicts and the events share it without importing
 * one another.
 *
 * @module
 */

/** Why a turn failed; `type` is the API's error type where the model failed. */
export interface TurnError {
  type: string;
  message: string;
  /** What the API said beside the error: for a `refusal`, its `stop_details`. */
  details?: unknown;
}
