package io.keyward.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.key.Environment;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyIds;
import io.keyward.key.KeyOrigin;
import io.keyward.key.KeyRecord;
import io.keyward.store.KeyStore;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What every {@link KeyStore} must do; a subclass supplies an empty store per test. */
public abstract class KeyStoreContract {
  protected final MutableClock clock = MutableClock.startingAt2030();
  private final KeyIds ids = new KeyIds(clock, new SecureRandom());
  private final KeyFormat format = KeyFormat.withPrefix("kw");
  protected KeyStore store;

  protected abstract KeyStore newEmptyStore();

  @BeforeEach
  void createStore() {
    store = newEmptyStore();
  }

  /**
   * A record to store. Its metadata is written the way PostgreSQL's jsonb prints it (keys by
   * length, then bytes; one space after ':' and ','), since stores may normalise JSON text.
   */
  protected KeyRecord newRecord(String ownerId) {
    clock.advance(Duration.ofMillis(1));
    Instant now = clock.instant().truncatedTo(ChronoUnit.MICROS);
    String key = format.generate(Environment.TEST);
    return new KeyRecord(ids.next(), KeyHash.of(key), key.substring(0, 13), "name", ownerId,
        Set.of("b", "a"), "{\"n\": [1, 2], \"plan\": \"pro\"}", Environment.TEST,
        KeyOrigin.ISSUED, now, now, now.plusSeconds(60), null, true, null, 1);
  }

  private static KeyRecord changed(KeyRecord r, String name, long version) {
    return new KeyRecord(r.keyId(), r.hash(), r.hint(), name, r.ownerId(), Set.of("c"), "{}",
        r.environment(), r.origin(), r.createdAt(), r.updatedAt().plusSeconds(1), null,
        r.updatedAt().plusSeconds(1), false, r.rotatedFrom(), version);
  }

  @Test
  void insertedRecordIsFoundByHashAndByIdExactlyAsWritten() {
    KeyRecord record = newRecord("o1");
    store.insert(record);

    assertThat(store.findByHash(record.hash())).contains(record);
    assertThat(store.findById(record.keyId())).contains(record);
  }

  @Test
  void absentKeyIsEmptyNotAnError() {
    assertThat(store.findByHash(KeyHash.of("nothing"))).isEmpty();
    assertThat(store.findById("key_0000000000000000000000")).isEmpty();
  }

  @Test
  void secondRecordWithTheSameHashIsRefused() {
    KeyRecord record = newRecord("o1");
    store.insert(record);
    KeyRecord sameHash = new KeyRecord(ids.next(), record.hash(), null, "x", "o2", Set.of(), "{}",
        Environment.LIVE, KeyOrigin.IMPORTED, record.createdAt(), record.createdAt(), null, null,
        true, null, 1);

    assertThatThrownBy(() -> store.insert(sameHash)).isInstanceOf(KeyStore.DuplicateKeyException.class);
  }

  @Test
  void updateAppliesOnlyOverTheExpectedVersion() {
    KeyRecord record = newRecord("o1");
    store.insert(record);

    assertThat(store.update(changed(record, "stale", 2), 7)).isFalse();
    assertThat(store.update(changed(record, "renamed", 2), 1)).isTrue();

    KeyRecord read = store.findById(record.keyId()).orElseThrow();
    assertThat(read).isEqualTo(changed(record, "renamed", 2));
  }

  @Test
  void replaceWritesBothOrNeither() {
    KeyRecord old = newRecord("o1");
    store.insert(old);
    KeyRecord successor = newRecord("o1");

    assertThat(store.replace(changed(old, "x", 2), 99, successor)).isFalse();
    assertThat(store.findById(successor.keyId())).isEmpty();

    assertThat(store.replace(changed(old, "x", 2), 1, successor)).isTrue();
    assertThat(store.findById(successor.keyId())).contains(successor);
    assertThat(store.findById(old.keyId()).orElseThrow().version()).isEqualTo(2);
  }

  @Test
  void successorOfARotatedKeyIsFoundByThePredecessorsId() {
    KeyRecord old = newRecord("o1");
    store.insert(old);
    assertThat(store.findSuccessorId(old.keyId())).isEmpty();
    KeyRecord fresh = newRecord("o1");
    KeyRecord successor = new KeyRecord(fresh.keyId(), fresh.hash(), null, "x", "o1", Set.of(),
        "{}", Environment.TEST, KeyOrigin.ISSUED, fresh.createdAt(), fresh.createdAt(), null, null,
        true, old.keyId(), 1);

    store.replace(changed(old, "x", 2), 1, successor);

    assertThat(store.findSuccessorId(old.keyId())).contains(successor.keyId());
  }

  @Test
  void replaceThatCannotInsertLeavesThePredecessorUnchanged() {
    KeyRecord old = newRecord("o1");
    store.insert(old);
    KeyRecord clash = new KeyRecord(ids.next(), old.hash(), null, "x", "o1", Set.of(), "{}",
        Environment.TEST, KeyOrigin.ISSUED, old.createdAt(), old.createdAt(), null, null, true,
        old.keyId(), 1);

    assertThatThrownBy(() -> store.replace(changed(old, "x", 2), 1, clash))
        .isInstanceOf(KeyStore.DuplicateKeyException.class);
    assertThat(store.findById(old.keyId())).contains(old);
  }

  @Test
  void listPagesInIdOrderAndFiltersByOwner() {
    List<KeyRecord> mine = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      KeyRecord record = newRecord(i % 2 == 0 ? "even" : "odd");
      store.insert(record);
      if (i % 2 == 0) {
        mine.add(record);
      }
    }

    List<KeyRecord> firstPage = store.list("even", null, 2);
    List<KeyRecord> secondPage = store.list("even", firstPage.get(1).keyId(), 2);

    assertThat(firstPage).containsExactly(mine.get(0), mine.get(1));
    assertThat(secondPage).containsExactly(mine.get(2));
    assertThat(store.list(null, null, 10)).hasSize(5).isSortedAccordingTo(
        java.util.Comparator.comparing(KeyRecord::keyId));
  }

  @Test
  void insertIfEmptySucceedsForExactlyOneOfManyConcurrentCallers() throws Exception {
    List<Callable<Boolean>> attempts = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      KeyRecord record = newRecord("root");
      attempts.add(() -> store.insertIfEmpty(record));
    }
    int wins = 0;
    try (ExecutorService threads = Executors.newFixedThreadPool(8)) {
      for (Future<Boolean> result : threads.invokeAll(attempts)) {
        wins += result.get() ? 1 : 0;
      }
    }

    assertThat(wins).isEqualTo(1);
    assertThat(store.list(null, null, 10)).hasSize(1);
    assertThat(store.insertIfEmpty(newRecord("late"))).isFalse();
  }
}
