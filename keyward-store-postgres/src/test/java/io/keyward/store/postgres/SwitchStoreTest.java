package io.keyward.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.rollout.GuardRules;
import io.keyward.rollout.Stage;
import io.keyward.rollout.SwitchState;
import io.keyward.rollout.Switchboard;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Switches in the real PostgreSQL: versions, the audit trail, the guard's revert, and sync. */
class SwitchStoreTest {
  private static PostgresSwitchStore.Change change(Stage stage, int canary, String reason) {
    return new PostgresSwitchStore.Change("cache.l2", stage, canary, 1000, rules -> rules,
        "ops@example.com", reason, null);
  }

  @Test
  void everyChangeGetsANewVersionAndAnAuditEntryAndTheSaltStays() {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      PostgresSwitchStore store = new PostgresSwitchStore(database.pool(), Clock.systemUTC(),
          new SimpleMeterRegistry());

      SwitchState shadow = store.set(change(Stage.SHADOW, 0, "try it"));
      SwitchState canary = store.set(change(Stage.CANARY, 500, "5% of keys"));

      assertThat(canary.version()).isGreaterThan(shadow.version());
      assertThat(canary.salt()).isEqualTo(shadow.salt());
      assertThat(store.read().orElseThrow().states()).singleElement()
          .isEqualTo(canary);
      assertThat(store.version()).contains(canary.version());
      assertThat(store.history("cache.l2", 10)).extracting(e -> e.stage() + "<-" + e.previous()
          + " by " + e.actor() + ": " + e.reason())
          .containsExactly("CANARY<-SHADOW by ops@example.com: 5% of keys",
              "SHADOW<-null by ops@example.com: try it");
    }
  }

  @Test
  void theGuardsRevertIsRecordedWithItsEvidenceButNeverUndoesANewerChange() {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      PostgresSwitchStore store = new PostgresSwitchStore(database.pool(), Clock.systemUTC(),
          new SimpleMeterRegistry());
      SwitchState tripped = store.set(change(Stage.CANARY, 500, "5%"));

      SwitchState reverted = store.revert(tripped, "a confirmed false denial of key_a")
          .orElseThrow();

      assertThat(reverted.stage()).isEqualTo(Stage.OFF);
      assertThat(store.history("cache.l2", 1)).singleElement().satisfies(entry -> {
        assertThat(entry.actor()).isEqualTo("guard");
        assertThat(entry.previous()).isEqualTo(Stage.CANARY);
        assertThat(entry.evidence()).contains("key_a");
      });
      SwitchState again = store.set(change(Stage.CANARY, 500, "fixed, again"));
      assertThat(store.revert(tripped, "late verdict on the old version")).isEmpty();
      assertThat(store.read().orElseThrow().states()).singleElement().isEqualTo(again);
    }
  }

  @Test
  void settingsAChangeDoesNotSendAreKeptFromTheStoreAndConcurrentChangesKeepTheirOrder()
      throws Exception {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      PostgresSwitchStore store = new PostgresSwitchStore(database.pool(), Clock.systemUTC(),
          new SimpleMeterRegistry());
      store.set(new PostgresSwitchStore.Change("cache.l2", Stage.CANARY, 700, 50,
          rules -> new GuardRules(500, 0.05, 0.02, 80), "a", "first", null));

      SwitchState kept = store.set(new PostgresSwitchStore.Change("cache.l2", Stage.SHADOW, null,
          null, rules -> rules, "b", "only the stage", null));

      assertThat(kept.canaryBasisPoints()).isEqualTo(700);
      assertThat(kept.sampleBasisPoints()).isEqualTo(50);
      assertThat(kept.rules()).isEqualTo(new GuardRules(500, 0.05, 0.02, 80));

      // Twenty first-time changes of another switch at once: one salt, and the stored version is
      // the last one drawn (versions commit in order).
      var pool = java.util.concurrent.Executors.newFixedThreadPool(8);
      List<java.util.concurrent.Future<SwitchState>> done = new java.util.ArrayList<>();
      for (int i = 0; i < 20; i++) {
        done.add(pool.submit(() -> store.set(new PostgresSwitchStore.Change("other", Stage.SHADOW,
            null, null, rules -> rules, "c", "race", null))));
      }
      long highest = 0;
      java.util.Set<Long> salts = new java.util.HashSet<>();
      for (var each : done) {
        highest = Math.max(highest, each.get().version());
        salts.add(each.get().salt());
      }
      pool.shutdown();
      SwitchState stored = store.read().orElseThrow().states().stream()
          .filter(state -> state.name().equals("other")).findFirst().orElseThrow();
      assertThat(stored.version()).isEqualTo(highest);
      assertThat(salts).containsExactly(stored.salt());
      assertThat(store.history("other", 50)).hasSize(20)
          .filteredOn(entry -> entry.previous() == null).hasSize(1);
    }
  }

  @Test
  void everyNodeAppliesANewVersionAndReportsIt() {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      PostgresSwitchStore store = new PostgresSwitchStore(database.pool(), Clock.systemUTC(),
          new SimpleMeterRegistry());
      Switchboard a = new Switchboard();
      Switchboard b = new Switchboard();
      try (SwitchSync syncA = SwitchSync.start(store, a, "node_a", Duration.ofHours(1),
              Clock.systemUTC(), new SimpleMeterRegistry());
          SwitchSync syncB = SwitchSync.start(store, b, "node_b", Duration.ofHours(1),
              Clock.systemUTC(), new SimpleMeterRegistry())) {
        SwitchState set = store.set(change(Stage.SHADOW, 0, "go"));
        assertThat(a.state("cache.l2").stage()).as("not polled yet").isEqualTo(Stage.OFF);

        syncA.syncNow();
        syncB.syncNow();

        assertThat(List.of(a.state("cache.l2"), b.state("cache.l2"))).containsOnly(set);
        assertThat(store.appliedVersions()).containsEntry("node_a", set.version())
            .containsEntry("node_b", set.version());
      }
    }
  }

  @Test
  void aNodeThatCannotReadKeepsWhatItAppliedLast() {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      PostgresSwitchStore store = new PostgresSwitchStore(database.pool(), Clock.systemUTC(),
          new SimpleMeterRegistry());
      Switchboard board = new Switchboard();
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      try (SwitchSync sync = SwitchSync.start(store, board, "node_a", Duration.ofHours(1),
          Clock.systemUTC(), registry)) {
        SwitchState set = store.set(change(Stage.CANARY, 300, "go"));
        sync.syncNow();

        database.refuseAndKillConnections();
        try {
          sync.syncNow();
        } finally {
          database.restore();
        }

        assertThat(board.state("cache.l2")).isEqualTo(set);
        assertThat(registry.get("keyward.switches.sync.failures").counter().count()).isEqualTo(1);
      }
    }
  }
}
