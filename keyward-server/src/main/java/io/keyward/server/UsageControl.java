package io.keyward.server;

import io.keyward.admin.KeyAdministration;
import io.keyward.export.ExportLoop;
import io.keyward.export.NatsExporter;
import io.keyward.server.api.UsageApi;
import io.keyward.server.auth.RootKeyAuthenticator;
import io.keyward.store.postgres.PostgresUsageStore;
import io.keyward.store.postgres.SchemaGate;
import io.keyward.store.postgres.UsageOutbox;
import io.keyward.usage.UsageBuffer;
import io.keyward.usage.UsageExport;
import io.keyward.verify.UsageSink;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * The server's usage: the buffer the verifier hands events to, the recorder that writes them,
 * the exporters, and their API. Usage counting is on by default; exporters are opt-in. Nothing
 * here is a dependency of verification: the verifier only increments a counter in the buffer, and
 * the exporters' state is reported in {@code /health/ready}'s body without ever making it fail.
 */
final class UsageControl implements AutoCloseable {
  private final UsageSettings settings;
  private final @Nullable UsageBuffer buffer;
  private final PostgresUsageStore store;
  private final @Nullable UsageOutbox outbox;
  private final List<ExportLoop> exports = new ArrayList<>();
  private final Clock clock;
  private final MeterRegistry registry;
  private @Nullable UsageRecorder recorder;

  UsageControl(DataSource pool, UsageSettings settings, Clock clock, MeterRegistry registry) {
    this.settings = settings;
    this.clock = clock;
    this.registry = registry;
    this.store = new PostgresUsageStore(pool, clock, registry);
    this.buffer = settings.enabled() ? new UsageBuffer(settings.bufferCells(),
        settings.exports(UsageExport.EVENTS) ? settings.bufferEvents() : 0) : null;
    // With usage on, also without exporters: the API lists and removes the cursors of exporters
    // taken out of the configuration. Nothing is written to it unless this node exports.
    this.outbox = settings.enabled() ? new UsageOutbox(pool, store.gate(), clock) : null;
  }

  /** What the verifier hands its events to. */
  UsageSink sink() {
    return buffer == null ? UsageSink.NONE : buffer;
  }

  /** When the key was last verified, as of the nodes' last flushes. */
  java.util.Optional<java.time.Instant> lastUsed(String keyId) {
    return store.lastUsed(keyId);
  }

  SchemaGate gate() {
    return store.gate();
  }

  /** Starts writing (and exporting) once this node has its id. */
  void start(String nodeId) {
    if (buffer == null) {
      return;
    }
    List<io.keyward.export.UsageExporter> exporters = outbox == null ? List.of() : exporters();
    for (io.keyward.export.UsageExporter exporter : exporters) {
      try {
        // Before the first flush: the outbox keeps what no cursor has passed, and a cursor made
        // later would start after rows the retention may have deleted.
        outbox.ensureCursor(exporter.name());
      } catch (io.keyward.store.StoreException e) {
        // the database is not there yet: the exporter's loop creates its cursor when it is
      }
    }
    // The outbox only for a node that exports: it writes rows there and trims what every
    // cursor has passed (a node without exporters has the outbox for the API only).
    recorder = new UsageRecorder(buffer, store, exporters.isEmpty() ? null : outbox, nodeId, clock,
        settings, registry).start();
    // Each on a thread of its own, behind its own cursor: one that fails holds up no other.
    for (io.keyward.export.UsageExporter exporter : exporters) {
      exports.add(new ExportLoop(exporter, settings.kindOf(exporter.name()), outbox,
          Duration.ofMillis(500), clock, registry).start());
    }
  }

  private List<io.keyward.export.UsageExporter> exporters() {
    List<io.keyward.export.UsageExporter> exporters = new ArrayList<>();
    if (settings.natsUrl() != null) {
      exporters.add(new NatsExporter(settings.natsUrl(), settings.natsStream(),
          settings.natsSubject()));
    }
    if (settings.webhookUrl() != null) {
      exporters.add(new io.keyward.export.WebhookExporter(settings.webhookUrl(),
          settings.webhookSecret(), clock));
    }
    if (settings.jsonLinesDir() != null) {
      exporters.add(new io.keyward.export.JsonLinesExporter(settings.jsonLinesDir(), clock));
    }
    return exporters;
  }

  UsageApi api(RootKeyAuthenticator auth, KeyAdministration admin) {
    return new UsageApi(auth, admin, store, new UsageApi.Exporters() {
      @Override
      public List<UsageApi.ExporterStatus> statuses() {
        List<UsageApi.ExporterStatus> statuses = new ArrayList<>();
        for (ExportLoop loop : exports) {
          ExportLoop.Status s = loop.status();
          statuses.add(new UsageApi.ExporterStatus(s.exporter(), true, s.paused(), s.lag(),
              s.lastError()));
        }
        return statuses;
      }

      @Override
      public List<UsageApi.ExporterStatus> otherCursors() {
        List<UsageApi.ExporterStatus> others = new ArrayList<>();
        if (outbox != null) {
          for (UsageOutbox.Cursor cursor : outbox.cursors()) {
            if (!runs(cursor.exporter())) {
              others.add(new UsageApi.ExporterStatus(cursor.exporter(), false, cursor.paused(),
                  outbox.lag(cursor), cursor.lastError()));
            }
          }
        }
        return others;
      }

      @Override
      public UsageApi.Removal remove(String name) {
        if (runs(name)) {
          return UsageApi.Removal.RUNS_HERE;
        }
        if (outbox == null) {
          return UsageApi.Removal.UNKNOWN;
        }
        return switch (outbox.removeCursor(name)) {
          case REMOVED -> UsageApi.Removal.REMOVED;
          case ACTIVE -> UsageApi.Removal.ACTIVE;
          case UNKNOWN -> UsageApi.Removal.UNKNOWN;
        };
      }

      @Override
      public boolean setPaused(String name, boolean paused) {
        if (outbox == null || !runs(name)) {
          return false;
        }
        return outbox.setPaused(name, paused);
      }
    }, clock);
  }

  private boolean runs(String exporter) {
    return exports.stream().anyMatch(loop -> loop.name().equals(exporter));
  }

  /**
   * What {@code /health/ready} shows of usage: never a reason to be unready (usage is not a
   * dependency of verification), but said: {@code usage: counting} or why not, and each
   * exporter's state.
   */
  Map<String, String> readinessDetails() {
    Map<String, String> shown = new TreeMap<>();
    if (buffer == null) {
      shown.put("usage.counting", "off");
      return shown;
    }
    String error = recorder == null ? null : recorder.lastError();
    shown.put("usage.counting", error == null ? "counting"
        : "counting; writes failing (kept, retried): " + error);
    for (ExportLoop loop : exports) {
      ExportLoop.Status s = loop.status();
      shown.put("exporter." + s.exporter(), s.paused() ? "paused"
          : s.lastError() != null ? "failing (not a verify dependency): " + s.lastError()
          : "delivering");
    }
    return shown;
  }

  /** Drains and writes what is left (a graceful stop). */
  @Override
  public void close() {
    if (recorder != null) {
      recorder.close(); // first: its last batch reaches the outbox for the next exporter run
    }
    for (ExportLoop loop : exports) {
      loop.close();
    }
  }
}
