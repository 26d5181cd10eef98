package io.keyward.testing;

import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import io.keyward.store.KeyStore;
import io.keyward.store.StoreException;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;

/**
 * A key store in memory, for unit tests of the core only (integration tests use PostgreSQL). It
 * counts lookups and can be told to fail or to run a hook inside each lookup, to inject faults.
 */
public final class InMemoryKeyStore implements KeyStore {
  private final ConcurrentSkipListMap<String, KeyRecord> byId = new ConcurrentSkipListMap<>();
  private final ConcurrentHashMap<KeyHash, String> idByHash = new ConcurrentHashMap<>();
  private final AtomicInteger lookups = new AtomicInteger();
  private volatile boolean failing;
  private final AtomicReference<Runnable> lookupHook = new AtomicReference<>(() -> {});

  /** How many times {@link #findByHash} was called. */
  public int lookups() {
    return lookups.get();
  }

  /** From now on every call throws {@link StoreException} (or, with false, none does). */
  public void setFailing(boolean failing) {
    this.failing = failing;
  }

  /** Runs inside every {@link #findByHash}, before it reads (to block or to race it). */
  public void onLookup(Runnable hook) {
    lookupHook.set(hook);
  }

  @Override
  public Optional<KeyRecord> findByHash(KeyHash hash) {
    lookups.incrementAndGet();
    lookupHook.get().run();
    checkAvailable();
    String id = idByHash.get(hash);
    return id == null ? Optional.empty() : Optional.ofNullable(byId.get(id));
  }

  @Override
  public Optional<String> findSuccessorId(String keyId) {
    checkAvailable();
    return byId.values().stream().filter(r -> keyId.equals(r.rotatedFrom()))
        .map(KeyRecord::keyId).sorted().findFirst();
  }

  @Override
  public Optional<KeyRecord> findById(String keyId) {
    checkAvailable();
    return Optional.ofNullable(byId.get(keyId));
  }

  @Override
  public synchronized void insert(KeyRecord record) {
    checkAvailable();
    if (byId.containsKey(record.keyId()) || idByHash.containsKey(record.hash())) {
      throw new DuplicateKeyException("duplicate id or hash");
    }
    byId.put(record.keyId(), record);
    idByHash.put(record.hash(), record.keyId());
  }

  @Override
  public synchronized boolean update(KeyRecord record, long expectedVersion) {
    checkAvailable();
    KeyRecord current = byId.get(record.keyId());
    if (current == null || current.version() != expectedVersion) {
      return false;
    }
    byId.put(record.keyId(), record);
    return true;
  }

  @Override
  public synchronized boolean replace(KeyRecord predecessor, long expectedVersion, KeyRecord successor) {
    checkAvailable();
    KeyRecord current = byId.get(predecessor.keyId());
    if (current == null || current.version() != expectedVersion) {
      return false;
    }
    insert(successor);
    byId.put(predecessor.keyId(), predecessor);
    return true;
  }

  @Override
  public List<KeyRecord> list(@Nullable String ownerId, @Nullable String afterKeyId, int limit) {
    checkAvailable();
    var view = afterKeyId == null ? byId : byId.tailMap(afterKeyId, false);
    return view.values().stream()
        .filter(record -> ownerId == null || record.ownerId().equals(ownerId))
        .sorted(Comparator.comparing(KeyRecord::keyId))
        .limit(limit)
        .toList();
  }

  @Override
  public synchronized boolean insertIfEmpty(KeyRecord record) {
    checkAvailable();
    if (!byId.isEmpty()) {
      return false;
    }
    insert(record);
    return true;
  }

  private void checkAvailable() {
    if (failing) {
      throw new StoreException("injected store failure");
    }
  }
}
