package io.keyward.server.api;

import com.fasterxml.jackson.core.JsonGenerator;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.keyward.admin.KeyAdministration;
import io.keyward.admin.KeyNotFoundException;
import io.keyward.key.KeyIds;
import io.keyward.server.auth.RootKeyAuthenticator;
import io.keyward.store.StoreException;
import io.keyward.store.postgres.PostgresUsageStore;
import io.keyward.store.postgres.UsageOutbox;
import io.keyward.usage.Granularity;
import io.keyward.verify.Outcome;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * Usage over HTTP (scope {@code keyward:admin}): {@code GET /v1/keys/{keyId}/usage} and {@code GET
 * /v1/usage?ownerId=}, buckets of counts by outcome (the codes of verify) with the last use; and
 * the exporters: {@code GET /v1/usage/exporters}, {@code POST /v1/usage/exporters/{name}/pause}
 * and {@code /resume}, and {@code DELETE /v1/usage/exporters/{name}} for the cursor of one no
 * node runs any more.
 */
public final class UsageApi {
  /** The exporters, as the server runs them. */
  public interface Exporters {
    /** Each configured exporter: name, paused, lag (batches), last error. */
    List<ExporterStatus> statuses();

    /**
     * The cursors in the database that no exporter of this node owns: left by an exporter taken
     * out of the configuration, or run by another node.
     *
     * @throws StoreException when the database cannot be read
     */
    List<ExporterStatus> otherCursors();

    /** Pauses or resumes one this node runs; false if it runs none of that name. */
    boolean setPaused(String name, boolean paused);

    /** Forgets the cursor of an exporter no node runs any more. */
    Removal remove(String name);
  }

  /** What {@link Exporters#remove} did. */
  public enum Removal {
    /** The cursor is gone: it no longer holds outbox rows back. */
    REMOVED,
    /** This node runs that exporter: take it out of the configuration first. */
    RUNS_HERE,
    /** Some node has used the cursor within the last few minutes: an exporter still runs. */
    ACTIVE,
    /** No cursor of that name. */
    UNKNOWN
  }

  /**
   * One exporter's state. {@code runsHere}: this node runs it. A cursor no exporter of this node
   * owns shows with {@code runsHere} false: another node's exporter, or one taken out of every
   * configuration, which holds back the deletion of the outbox rows it has not passed until it
   * is removed.
   */
  public record ExporterStatus(String name, boolean runsHere, boolean paused, long lag,
      @Nullable String lastError) {}

  private final RootKeyAuthenticator auth;
  private final KeyAdministration admin;
  private final PostgresUsageStore store;
  private final Exporters exporters;
  private final Clock clock;

  public UsageApi(RootKeyAuthenticator auth, KeyAdministration admin, PostgresUsageStore store,
      Exporters exporters, Clock clock) {
    this.auth = auth;
    this.admin = admin;
    this.store = store;
    this.exporters = exporters;
    this.clock = clock;
  }

  public void register(RouteTable routing) {
    routing
        .get("/v1/keys/{keyId}/usage", this::keyUsage)
        .get("/v1/usage", this::ownerUsage)
        .get("/v1/usage/exporters", this::listExporters)
        .post("/v1/usage/exporters/{name}/pause", (req, res) -> pause(req, res, true))
        .post("/v1/usage/exporters/{name}/resume", (req, res) -> pause(req, res, false))
        .delete("/v1/usage/exporters/{name}", this::remove);
  }

  /** The window and width a query asked for, checked. */
  record Window(Granularity granularity, Instant from, Instant to) {}

  Window window(ServerRequest request) {
    String granularityText = request.query().first("granularity").orElse("hour");
    Granularity granularity = Granularity.parse(granularityText).orElseThrow(() ->
        ApiError.invalidField("granularity", "must be minute, hour or day"));
    long width = granularity.width().toMillis();
    // Whole buckets only: from rounded down and to rounded up to the width (UTC), and the
    // answer says which window it covers. A bucket is never a fragment.
    Instant to = instant(request, "to").map(t -> roundUp(t, granularity)).orElseGet(() ->
        Instant.ofEpochMilli(granularity.bucketOf(clock.millis()) + width));
    Instant from = instant(request, "from")
        .map(f -> Instant.ofEpochMilli(granularity.bucketOf(f.toEpochMilli())))
        .orElseGet(() -> to.minus(defaultSpan(granularity)));
    if (!from.isBefore(to)) {
      throw ApiError.invalidField("from", "must be before to");
    }
    long buckets = Duration.between(from, to).toMillis() / width;
    if (buckets > Granularity.MAX_BUCKETS) {
      throw ApiError.invalidField("to", "the window spans " + buckets + " " + granularity.label()
          + " buckets; at most " + Granularity.MAX_BUCKETS + " (use a wider granularity)");
    }
    return new Window(granularity, from, to);
  }

  private static Instant roundUp(Instant at, Granularity granularity) {
    long start = granularity.bucketOf(at.toEpochMilli());
    return Instant.ofEpochMilli(start == at.toEpochMilli() ? start
        : start + granularity.width().toMillis());
  }

  private static Duration defaultSpan(Granularity granularity) {
    return switch (granularity) {
      case MINUTE -> Duration.ofHours(1);
      case HOUR -> Duration.ofDays(1);
      case DAY -> Duration.ofDays(30);
    };
  }

  private static Optional<Instant> instant(ServerRequest request, String field) {
    Optional<String> text = request.query().first(field).asOptional();
    if (text.isEmpty()) {
      return Optional.empty();
    }
    try {
      Instant value = Instant.parse(text.get());
      if (value.isBefore(Instant.parse("1970-01-01T00:00:00Z"))
          || value.isAfter(Instant.parse("9999-12-31T23:59:59Z"))) {
        throw ApiError.invalidField(field, "must be between 1970 and 9999");
      }
      return Optional.of(value);
    } catch (DateTimeParseException e) {
      throw ApiError.invalidField(field, "must be an ISO-8601 instant like 2026-11-30T00:00:00Z");
    }
  }

  private void keyUsage(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    String keyId = request.path().pathParameters().get("keyId");
    if (!KeyIds.isWellFormed(keyId)) {
      throw ApiError.notFound("no key with id '" + RequestFields.truncate(keyId) + "'");
    }
    Window window = window(request);
    try {
      admin.get(keyId);
    } catch (KeyNotFoundException e) {
      throw ApiError.notFound(e.getMessage());
    } catch (StoreException e) {
      throw ApiError.unavailable("the key store is unavailable; retry");
    }
    answer(request, response, "keyId", keyId, window,
        () -> store.usageOfKey(keyId, window.granularity(), window.from(), window.to()),
        () -> store.lastUsed(keyId));
  }

  private void ownerUsage(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    String ownerId = request.query().first("ownerId").orElse(null);
    if (ownerId == null || ownerId.isBlank()) {
      throw ApiError.invalidField("ownerId", "is required");
    }
    if (ownerId.length() > 256) {
      throw ApiError.invalidField("ownerId", "at most 256 characters");
    }
    RequestFields.requireStorable("ownerId", ownerId);
    Window window = window(request);
    answer(request, response, "ownerId", ownerId, window,
        () -> store.usageOfOwner(ownerId, window.granularity(), window.from(), window.to()),
        () -> store.ownerLastUsed(ownerId));
  }

  private void answer(ServerRequest request, ServerResponse response, String idField, String id,
      Window window, java.util.function.Supplier<List<PostgresUsageStore.Bucket>> read,
      java.util.function.Supplier<Optional<Instant>> lastUsed) {
    List<PostgresUsageStore.Bucket> buckets;
    Instant last;
    long notCounted;
    try {
      buckets = read.get();
      last = lastUsed.get().orElse(null);
      notCounted = store.droppedBetween(window.from(), window.to());
    } catch (StoreException e) {
      throw ApiError.unavailable("usage cannot be read now; retry");
    }
    Responses.send(request, response, Status.OK_200, Json.writeObject(g -> {
      g.writeStringField(idField, id);
      g.writeStringField("granularity", window.granularity().label());
      Json.writeInstant(g, "from", window.from());
      Json.writeInstant(g, "to", window.to());
      Json.writeInstant(g, "lastUsedAt", last);
      // Verifications in the window that no node could count (its buffer was full), all keys:
      // what these figures do not cover.
      g.writeNumberField("notCounted", notCounted);
      g.writeArrayFieldStart("buckets");
      for (PostgresUsageStore.Bucket bucket : buckets) {
        g.writeStartObject();
        Json.writeInstant(g, "start", bucket.start());
        writeCounts(g, bucket.counts());
        g.writeEndObject();
      }
      g.writeEndArray();
    }));
  }

  private static void writeCounts(JsonGenerator g, Map<Outcome, Long> counts) throws IOException {
    g.writeObjectFieldStart("counts");
    for (Map.Entry<Outcome, Long> entry : counts.entrySet()) {
      g.writeNumberField(entry.getKey().name(), entry.getValue());
    }
    g.writeEndObject();
  }

  private void listExporters(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    List<ExporterStatus> statuses = statuses();
    List<ExporterStatus> others;
    String othersUnavailable = null;
    try {
      others = exporters.otherCursors();
    } catch (StoreException e) {
      // This node's exporters are known without the database: shown all the same.
      others = List.of();
      othersUnavailable = "the cursors in the database cannot be read now, so cursors no"
          + " exporter of this node owns are not listed; retry";
    }
    List<ExporterStatus> listed = others;
    String unavailable = othersUnavailable;
    Responses.send(request, response, Status.OK_200, Json.writeObject(g -> {
      g.writeArrayFieldStart("exporters");
      for (ExporterStatus status : statuses) {
        writeStatus(g, status);
      }
      for (ExporterStatus status : listed) {
        writeStatus(g, status);
      }
      g.writeEndArray();
      if (unavailable != null) {
        g.writeStringField("otherCursorsUnavailable", unavailable);
      }
    }));
  }

  private List<ExporterStatus> statuses() {
    try {
      return exporters.statuses();
    } catch (StoreException e) {
      throw ApiError.unavailable("the exporters' cursors cannot be read now; retry");
    }
  }

  private static void writeStatus(JsonGenerator g, ExporterStatus status) throws IOException {
    g.writeStartObject();
    writeStatusFields(g, status);
    g.writeEndObject();
  }

  private static void writeStatusFields(JsonGenerator g, ExporterStatus status)
      throws IOException {
    g.writeStringField("name", status.name());
    g.writeBooleanField("runsHere", status.runsHere());
    g.writeBooleanField("paused", status.paused());
    g.writeNumberField("lag", status.lag());
    g.writeStringField("lastError", status.lastError());
  }

  private void pause(ServerRequest request, ServerResponse response, boolean paused) {
    auth.requireAdmin(request);
    String name = request.path().pathParameters().get("name");
    boolean found;
    try {
      found = exporters.setPaused(name, paused);
    } catch (StoreException e) {
      throw ApiError.unavailable("the exporter's cursor cannot be changed now; retry");
    }
    if (!found) {
      throw ApiError.notFound("no exporter named '" + RequestFields.truncate(name)
          + "' runs on this node");
    }
    // The loop sees the change on its next pass (within a second); the answer says what was set.
    ExporterStatus seen = statuses().stream().filter(s -> s.name().equals(name)).findFirst()
        .orElse(new ExporterStatus(name, true, paused, 0, null));
    ExporterStatus status = new ExporterStatus(name, true, paused, seen.lag(), seen.lastError());
    Responses.send(request, response, Status.OK_200,
        Json.writeObject(g -> writeStatusFields(g, status)));
  }

  /**
   * {@code DELETE /v1/usage/exporters/{name}}: forgets the cursor of an exporter taken out of
   * the configuration, which would otherwise keep the outbox from being trimmed (its rows are
   * kept until every cursor has passed them). Refused (409) for an exporter this node runs, and
   * for a cursor some node has used within {@link UsageOutbox#REMOVABLE_AFTER}.
   */
  private void remove(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    String name = request.path().pathParameters().get("name");
    Removal removal;
    try {
      removal = exporters.remove(name);
    } catch (StoreException e) {
      throw ApiError.unavailable("the exporter's cursor cannot be removed now; retry");
    }
    switch (removal) {
      case REMOVED -> Responses.send(request, response, Status.OK_200, Json.writeObject(g -> {
        g.writeStringField("name", name);
        g.writeBooleanField("removed", true);
      }));
      case RUNS_HERE -> throw ApiError.conflict("this node runs exporter '"
          + RequestFields.truncate(name) + "': take it out of the configuration of every node"
          + " first");
      case ACTIVE -> throw ApiError.conflict("exporter '" + RequestFields.truncate(name)
          + "' has been in use within the last " + UsageOutbox.REMOVABLE_AFTER.toMinutes()
          + " minutes, so some node still runs it: take it out of the configuration of every"
          + " node, then retry once its cursor has been quiet that long");
      case UNKNOWN -> throw ApiError.notFound("no exporter cursor named '"
          + RequestFields.truncate(name) + "'");
    }
  }
}
