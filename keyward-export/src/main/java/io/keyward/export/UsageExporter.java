package io.keyward.export;

import io.keyward.store.postgres.UsageOutbox;

/**
 * Delivers usage batches somewhere. An exporter is run by its own {@link ExportLoop}, behind its
 * own durable cursor, so one that fails or hangs holds up no other.
 */
public interface UsageExporter extends AutoCloseable {
  /** Its name, which is also its cursor's ({@code nats}). */
  String name();

  /**
   * Delivers one batch, at least once: the same row may be delivered again after a failure or a
   * restart, always under the same {@link UsageOutbox.Row#eventId()}. Returns only once the
   * destination has taken it.
   *
   * @throws Exception when it was not (certainly) delivered; the loop retries it
   */
  void deliver(UsageOutbox.Row row) throws Exception;

  @Override
  default void close() {}

  /**
   * A part of a batch as the exporters send it: {@code {"id": "<node>:<seq>:<part>", "node": ...,
   * "seq": ..., "part": ..., "createdAt": ..., "counts": [{"keyId", "ownerId", "outcome",
   * "minute", "count"}, ...]}}, or, from an exporter of events, {@code ..., "events": [{"id":
   * "<node>:<seq>:<part>:<index>", "keyId", "ownerId", "outcome", "at"}, ...]}.
   */
  static String eventJson(UsageOutbox.Row row) {
    String counts = row.payloadJson().strip();
    // The payload is a JSON object PostgreSQL built ({"counts": [...]} or {"events": [...]}); its
    // fields follow ours.
    String rest = counts.length() > 2 ? "," + counts.substring(1) : "}";
    return "{\"id\":\"" + row.eventId() + "\",\"node\":\"" + row.nodeId() + "\",\"seq\":"
        + row.seq() + ",\"part\":" + row.part() + ",\"createdAt\":\"" + row.createdAt() + "\""
        + rest;
  }
}
