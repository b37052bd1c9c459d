/**
 * The message of a thrown value, as a user or the model should read it:
 * `NotCapable: Requires read access to "/etc"`, never a stack trace.
 */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.name && error.name !== "Error" ? `${error.name}: ${error.message}` : error.message;
  }
  return String(error);
}
