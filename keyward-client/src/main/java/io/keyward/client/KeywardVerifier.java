package io.keyward.client;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Verifies API keys against Keyward from a service, defensively: whatever Keyward, the network or
 * the key does, {@link #verify} returns a {@link Decision} and never throws, never turns a
 * Keyward problem into a denial, and never asks Keyward twice at once for one key.
 *
 * <ul>
 *   <li><b>Cache.</b> Answers are cached by the key's SHA-256 (the key itself is never kept):
 *       VALID for the fresh window (30 s), denials for the negative window (5 s). Scopes are
 *       checked here against the cached key's scopes, so one entry serves every route. A key's
 *       expiry is checked on every hit.
 *   <li><b>Pushed revocations.</b> A subscription to {@code GET /v1/invalidations} drops a changed
 *       key within milliseconds. While the stream is down (or the server says its own channel is
 *       down) the fresh window shrinks to the unsynced window (2 s): entries cached before are
 *       capped, each at a random point in that window so that reloads are spread, exactly as a
 *       node does when it loses its Redis channel.
 *   <li><b>Asking.</b> {@code POST /v1/keys/verify} with this service's {@code keyward:verify}
 *       key; one request per key at a time (others wait for it); a timeout on the whole call; one
 *       jittered retry of a failure that may pass (a connection error, a timeout, 429, 5xx) when
 *       the retry budget allows (a tenth of the calls, at most 10 banked); a circuit breaker that
 *       stops asking for 1 s after 5 failures in a row and then lets one call probe.
 *   <li><b>Failure policy</b>, per call ({@link FailurePolicy}): closed, stale-ok or open.
 *       Keys that are not printable ASCII of at most 4,096 characters are denied as {@code
 *       MALFORMED} without asking.
 * </ul>
 *
 * <p>Warnings (Keyward unreachable, the stream lost) are logged through {@link
 * System.Logger} (the platform's logging; SLF4J and Log4j have bridges) at most every 30 s each.
 */
public final class KeywardVerifier implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(KeywardVerifier.class.getName());
  static final int MAX_KEY_LENGTH = 4_096;

  private final URI verifyUri;
  private final String authorization;
  private final HttpClient http;
  private final Clock clock;
  private final Duration timeout;
  private final long freshMillis;
  private final long unsyncedFreshMillis;
  private final long negativeMillis;
  private final Duration maxStale;
  private final Cache<String, Entry> cache;
  /**
   * When each key hash was last invalidated (nanoTime): a load that started before is not kept,
   * one that started soon after is kept for the unsynced window only.
   */
  private final Cache<String, Long> invalidated;
  private final ConcurrentHashMap<String, Pending> inFlight = new ConcurrentHashMap<>();
  private final InvalidationStream stream;
  private final VerifierStats stats = new VerifierStats();
  private final CallGate gate;
  private volatile boolean unsynced;
  private final Warnings warnings = new Warnings(KeywardVerifier.class);

  private KeywardVerifier(Builder b) {
    this.verifyUri = b.baseUri.resolve("/v1/keys/verify");
    this.authorization = "Bearer " + b.verifyKey;
    this.clock = b.clock;
    this.timeout = b.timeout;
    this.freshMillis = b.fresh.toMillis();
    this.unsyncedFreshMillis = Math.min(b.unsyncedFresh.toMillis(), freshMillis);
    this.negativeMillis = b.negative.toMillis();
    this.gate = new CallGate(b.clock);
    this.maxStale = b.maxStale;
    this.http = HttpClient.newBuilder().connectTimeout(b.timeout)
        .followRedirects(HttpClient.Redirect.NEVER).build();
    // Bounded by size only: every answer carries its own times (fresh until, loaded at), which
    // the lookups check, so an entry past them answers nothing; an expiry policy would only add
    // a clock read and bookkeeping to every hit (measured: ClientVerifyBenchmark).
    this.cache = Caffeine.newBuilder().maximumSize(b.maxEntries).build();
    this.invalidated = Caffeine.newBuilder()
        // Longer than any load can take (its timeout), so that a load in flight across an
        // invalidation always finds it.
        .expireAfterWrite(Duration.ofMillis(Math.max(Math.max(2 * unsyncedFreshMillis, 5_000),
            b.timeout.toMillis() + unsyncedFreshMillis + 1_000)))
        .maximumSize(100_000).build();
    // Until the stream is heard, changes may be missed: start unsynced.
    this.unsynced = b.subscribe;
    this.stream = b.subscribe ? new InvalidationStream(http, b.baseUri.resolve("/v1/invalidations"),
        authorization, new StreamEvents()).start() : null;
  }

  /** Starts building a verifier for the Keyward at {@code baseUri} with this verify key. */
  public static Builder builder(URI baseUri, String verifyKey) {
    return new Builder(baseUri, verifyKey);
  }

  /** {@link #verify(String, Collection, FailurePolicy)} with the closed policy. */
  public Decision verify(String key, Collection<String> requiredScopes) {
    return verify(key, requiredScopes, CLOSED);
  }

  private static final FailurePolicy CLOSED = FailurePolicy.closed();

  /**
   * Decides whether {@code key} may pass a route that requires {@code requiredScopes}, under
   * {@code policy} when Keyward cannot be asked. Never throws, never blocks longer than the
   * timeout (plus a retry's share of it).
   */
  public Decision verify(String key, Collection<String> requiredScopes, FailurePolicy policy) {
    try {
      return decide(key, requiredScopes, policy == null ? CLOSED : policy);
    } catch (RuntimeException e) {
      stats.cannotDecide.increment();
      warnings.warn("unexpected", "verification failed unexpectedly: " + e.getClass().getName()
          + " (its message is not logged: it may hold the key)");
      return new Decision.CannotDecide("unexpected: " + e.getClass().getSimpleName());
    }
  }

  private Decision decide(String key, Collection<String> requiredScopes, FailurePolicy policy) {
    if (!wellFormed(key)) {
      stats.uncached.increment();
      stats.denied.increment();
      return new Decision.Denied("MALFORMED");
    }
    // Read as given (no copy on the hot path); a null element requires nothing.
    Collection<String> required = requiredScopes == null ? List.of() : requiredScopes;
    String hash = sha256Hex(key);
    long now = clock.millis();
    Entry cached = cache.getIfPresent(hash);
    if (cached != null && now < cached.freshUntilMillis) {
      stats.cacheHits.increment();
      return decide(cached, required, now, Decision.Basis.CONFIRMED);
    }
    stats.uncached.increment();
    Answer answer = load(key, hash);
    if (answer.entry() != null) {
      // Just answered by Keyward: its verdict stands, whatever this machine's clock says of the
      // expiry (a clock ahead of the server's must not deny what the server allowed).
      return decide(answer.entry(), required, Long.MIN_VALUE, Decision.Basis.CONFIRMED);
    }
    // Keyward could not be asked.
    switch (policy) {
      case FailurePolicy.StaleOk staleOk -> {
        if (cached != null && cached.valid && now - cached.loadedAtMillis
            <= staleOk.maxStale().toMillis()) {
          Decision stale = decide(cached, required, now, Decision.Basis.STALE);
          if (stale instanceof Decision.Allowed) {
            stats.staleAllowed.increment();
          }
          return stale;
        }
      }
      case FailurePolicy.Open open -> {
        stats.openAllowed.increment();
        return new Decision.Allowed("", "", Set.of(), Decision.Basis.OPEN);
      }
      case FailurePolicy.Closed closed -> {
        // below
      }
    }
    stats.cannotDecide.increment();
    return new Decision.CannotDecide(answer.failure());
  }

  private Decision decide(Entry entry, Collection<String> required, long now,
      Decision.Basis basis) {
    if (!entry.valid) {
      stats.denied.increment();
      return new Decision.Denied(entry.code);
    }
    if (entry.expiresAtMillis <= now) {
      stats.denied.increment();
      return new Decision.Denied("EXPIRED");
    }
    for (String scope : required) {
      if (scope != null && !entry.scopes.contains(scope)) {
        stats.denied.increment();
        return new Decision.Denied("INSUFFICIENT_SCOPE");
      }
    }
    // The confirmed decision is made once per entry: a cache hit allocates nothing.
    return basis == Decision.Basis.CONFIRMED ? entry.confirmed
        : new Decision.Allowed(entry.keyId, entry.ownerId, entry.scopes, basis);
  }

  /** One request per key hash at a time: the first caller asks, the others wait for it. */
  private Answer load(String key, String hash) {
    long started = System.nanoTime();
    Pending mine = new Pending(new CompletableFuture<>(), started + timeout.toNanos());
    Pending theirs = inFlight.putIfAbsent(hash, mine);
    if (theirs != null) {
      stats.sharedLoads.increment();
      try {
        // No longer than the asking caller may take (its timeout), plus a little.
        long left = Math.max(0, theirs.deadlineNanos() - System.nanoTime());
        return theirs.answer().get(left + TimeUnit.MILLISECONDS.toNanos(50),
            TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return Answer.failed("interrupted while waiting for Keyward's answer");
      } catch (ExecutionException | TimeoutException e) {
        return Answer.failed("Keyward did not answer within " + timeout.toMillis() + " ms");
      }
    }
    Answer answer;
    try {
      answer = ask(key, mine.deadlineNanos());
      if (answer.entry() != null) {
        Entry loaded = answer.entry();
        // Checked and stored as one step with the stream's invalidations (which remove under
        // the same lock): an answer loaded across a change is not kept; one loaded just after a
        // change (another node may not have heard of it yet) is kept for the unsynced window.
        cache.asMap().compute(hash, (h, old) -> {
          Long invalidatedAt = invalidated.getIfPresent(h);
          if (invalidatedAt == null) {
            return loaded;
          }
          if (invalidatedAt >= started) {
            return null;
          }
          loaded.freshUntilMillis = Math.min(loaded.freshUntilMillis,
              loaded.loadedAtMillis + unsyncedFreshMillis);
          return loaded;
        });
        // The stream may have been lost between parsing and storing (after the loss capped the
        // entries already there): this one is capped too.
        if (unsynced) {
          loaded.freshUntilMillis = Math.min(loaded.freshUntilMillis,
              loaded.loadedAtMillis + unsyncedFreshMillis);
        }
      }
    } catch (RuntimeException e) {
      answer = Answer.failed("unexpected: " + e);
    } finally {
      inFlight.remove(hash, mine);
    }
    mine.answer().complete(answer);
    return answer;
  }

  /** A request in flight for one key hash: its answer, and when its asker gives up. */
  private record Pending(CompletableFuture<Answer> answer, long deadlineNanos) {}

  /** Asks Keyward, with the breaker, the timeout and at most one budgeted retry. */
  private Answer ask(String key, long deadline) {
    Answer answer = null;
    for (int attempt = 0; attempt < 2; attempt++) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        break;
      }
      CallGate.Admission admission = gate.admit();
      if (admission == CallGate.Admission.REFUSED) {
        stats.breakerRejected.increment();
        return Answer.failed("circuit open: Keyward failed " + CallGate.BREAKER_THRESHOLD
            + " times in a row; asking again within " + CallGate.BREAKER_OPEN_MILLIS + " ms");
      }
      boolean probe = admission == CallGate.Admission.PROBE;
      stats.remoteCalls.increment();
      answer = null;
      try {
        answer = askOnce(key, Duration.ofNanos(left));
      } finally {
        // Always, so that a probe that ends in an Error cannot leave the breaker probing; an
        // interrupted caller says nothing about Keyward and is not recorded.
        if (answer != null && answer.interrupted()) {
          gate.abandon(probe);
        } else {
          gate.record(answer != null && answer.entry() != null, probe);
        }
      }
      if (answer.entry() != null || !answer.retryable() || attempt == 1 || !gate.takeRetry()) {
        break;
      }
      stats.retries.increment();
      long pause = ThreadLocalRandom.current().nextLong(5, 30);
      if (deadline - System.nanoTime() <= TimeUnit.MILLISECONDS.toNanos(pause + 5)) {
        break;
      }
      sleep(pause);
    }
    if (answer == null) {
      answer = Answer.failed("Keyward did not answer within " + timeout.toMillis() + " ms");
    }
    if (answer.entry() == null) {
      warnings.warn("ask", "Keyward could not be asked: " + answer.failure());
    }
    return answer;
  }

  private Answer askOnce(String key, Duration within) {
    HttpRequest request = HttpRequest.newBuilder(verifyUri).timeout(within)
        .header("Authorization", authorization).header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"key\":" + MiniJson.quote(key) + "}"))
        .build();
    HttpResponse<String> response;
    // The request's own timeout ends at the response headers (JDK-8258397): a server that sends
    // headers and then stalls the body would hold the caller for ever. The whole exchange is
    // bounded here instead, and cancelled when it runs out.
    CompletableFuture<HttpResponse<String>> exchange;
    try {
      exchange = http.sendAsync(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    } catch (RuntimeException e) {
      return Answer.retry("asking Keyward failed: " + e);
    }
    try {
      response = exchange.get(within.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      exchange.cancel(true);
      return Answer.retry("Keyward did not answer within " + within.toMillis() + " ms");
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof java.net.http.HttpTimeoutException) {
        return Answer.retry("Keyward did not answer within " + within.toMillis() + " ms");
      }
      return Answer.retry("Keyward is unreachable: " + (cause == null ? e : cause.getClass()
          .getSimpleName() + (cause.getMessage() == null ? "" : " " + cause.getMessage())));
    } catch (InterruptedException e) {
      exchange.cancel(true);
      Thread.currentThread().interrupt();
      return Answer.interruptedAnswer();
    }
    int status = response.statusCode();
    if (status == 200) {
      try {
        return Answer.of(entryOf(response.body()));
      } catch (IllegalArgumentException | ClassCastException e) {
        return Answer.failed("Keyward's answer is not what a verify answer looks like: "
            + e.getMessage());
      }
    }
    if (status == 401 || status == 403) {
      // This service's own key is refused: a configuration problem, not the client's key's.
      return Answer.failed("Keyward refused this service's verify key (" + status + ")");
    }
    return status == 429 || status >= 500
        ? Answer.retry("Keyward answered " + status)
        : Answer.failed("Keyward answered " + status);
  }

  private Entry entryOf(String body) {
    if (!(MiniJson.parse(body) instanceof Map<?, ?> json)) {
      throw new IllegalArgumentException("not a JSON object");
    }
    long now = clock.millis();
    Object valid = json.get("valid");
    Object code = json.get("code");
    if (!(valid instanceof Boolean) || !(code instanceof String text)) {
      throw new IllegalArgumentException("no 'valid' and 'code'");
    }
    if (!(Boolean) valid) {
      return new Entry(false, text, "", "", Set.of(), Long.MAX_VALUE, now, now + negativeMillis);
    }
    if (!(json.get("keyId") instanceof String keyId) || !(json.get("ownerId") instanceof String ownerId)
        || !(json.get("scopes") instanceof List<?> scopeList)) {
      throw new IllegalArgumentException("a VALID answer without keyId, ownerId or scopes");
    }
    Set<String> scopes = new LinkedHashSet<>();
    for (Object scope : scopeList) {
      scopes.add((String) scope);
    }
    long expires = Long.MAX_VALUE;
    if (json.get("expiresAt") instanceof String at) {
      try {
        expires = Instant.parse(at).toEpochMilli();
      } catch (DateTimeParseException e) {
        throw new IllegalArgumentException("expiresAt is not an instant");
      }
    }
    long fresh = unsynced ? unsyncedFreshMillis : freshMillis;
    return new Entry(true, text, keyId, ownerId, scopes, expires, now, now + fresh);
  }

  /** Printable ASCII, 1 to 4,096 characters: anything else cannot be a key. */
  static boolean wellFormed(String key) {
    if (key == null || key.isEmpty() || key.length() > MAX_KEY_LENGTH) {
      return false;
    }
    for (int i = 0; i < key.length(); i++) {
      char c = key.charAt(i);
      if (c < 0x21 || c > 0x7e) {
        return false;
      }
    }
    return true;
  }

  private static final MessageDigest SHA256_PROTOTYPE;

  static {
    try {
      SHA256_PROTOTYPE = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  static String sha256Hex(String key) {
    MessageDigest digest;
    try {
      digest = (MessageDigest) SHA256_PROTOTYPE.clone();
    } catch (CloneNotSupportedException e) {
      try {
        digest = MessageDigest.getInstance("SHA-256");
      } catch (NoSuchAlgorithmException impossible) {
        throw new IllegalStateException(impossible);
      }
    }
    return HexFormat.of().formatHex(digest.digest(key.getBytes(StandardCharsets.US_ASCII)));
  }



  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The longest stale-ok bound a route may use with this verifier (see the builder). */
  public Duration maxStale() {
    return maxStale;
  }

  /** Whether revocations may be missed now (the stream is down, or the server said so). */
  public boolean isUnsynced() {
    return unsynced;
  }

  /** Counters since start. */
  public VerifierStats stats() {
    return stats;
  }

  @Override
  public void close() {
    if (stream != null) {
      stream.close();
    }
    http.shutdownNow();
  }

  /** One cached answer. {@code freshUntilMillis} is lowered when the stream is lost. */
  private static final class Entry {
    final boolean valid;
    final String code;
    final String keyId;
    final String ownerId;
    final Set<String> scopes;
    final long expiresAtMillis;
    final long loadedAtMillis;
    volatile long freshUntilMillis;
    /** The decision for this key when valid and confirmed (null when not valid). */
    final Decision.Allowed confirmed;

    Entry(boolean valid, String code, String keyId, String ownerId, Set<String> scopes,
        long expiresAtMillis, long loadedAtMillis, long freshUntilMillis) {
      this.valid = valid;
      this.code = code;
      this.keyId = keyId;
      this.ownerId = ownerId;
      this.scopes = Set.copyOf(scopes);
      this.expiresAtMillis = expiresAtMillis;
      this.loadedAtMillis = loadedAtMillis;
      this.freshUntilMillis = freshUntilMillis;
      this.confirmed = valid ? new Decision.Allowed(keyId, ownerId, this.scopes,
          Decision.Basis.CONFIRMED) : null;
    }
  }

  /** Keyward's answer, or why there is none and whether trying again may help. */
  private record Answer(Entry entry, String failure, boolean retryable, boolean interrupted) {
    static Answer of(Entry entry) {
      return new Answer(entry, null, false, false);
    }

    static Answer failed(String why) {
      return new Answer(null, why, false, false);
    }

    static Answer retry(String why) {
      return new Answer(null, why, true, false);
    }

    static Answer interruptedAnswer() {
      return new Answer(null, "interrupted", false, true);
    }
  }

  /** What the stream tells this verifier. */
  private final class StreamEvents implements InvalidationStream.Listener {
    @Override
    public void invalidated(String keyHash) {
      stats.invalidations.increment();
      // Under the entry's lock, as the loads' check-and-store: a load cannot slip in between.
      cache.asMap().compute(keyHash, (h, old) -> {
        invalidated.put(h, System.nanoTime());
        return null;
      });
    }

    @Override
    public void synced(boolean synced) {
      if (!synced) {
        unsynced();
      } else if (unsynced) {
        unsynced = false;
        LOG.log(System.Logger.Level.INFO, "keyward: the invalidation stream is live; normal freshness resumes");
      }
    }

    private void unsynced() {
      // Said first, so that a load stored from now on caps itself; then every entry's freshness
      // is capped within the unsynced window, each at its own point in it (reloads spread).
      boolean was = unsynced;
      unsynced = true;
      long now = clock.millis();
      ThreadLocalRandom random = ThreadLocalRandom.current();
      cache.asMap().values().forEach(entry -> {
        long cap = now + random.nextLong(unsyncedFreshMillis);
        if (entry.freshUntilMillis > cap) {
          entry.freshUntilMillis = cap;
        }
      });
      if (!was) {
        stats.streamLosses.increment();
        warnings.warn("stream", "revocations may be missed (the invalidation stream is down): cached"
            + " answers are fresh for " + unsyncedFreshMillis + " ms only until it is back");
      }
    }
  }

  /** Settings, each checked when set, naming the setting. */
  public static final class Builder {
    private final URI baseUri;
    private final String verifyKey;
    private Clock clock = Clock.systemUTC();
    private Duration timeout = Duration.ofSeconds(1);
    private Duration fresh = Duration.ofSeconds(30);
    private Duration unsyncedFresh = Duration.ofSeconds(2);
    private Duration negative = Duration.ofSeconds(5);
    private Duration maxStale = Duration.ofMinutes(5);
    private long maxEntries = 100_000;
    private boolean subscribe = true;

    private Builder(URI baseUri, String verifyKey) {
      Objects.requireNonNull(baseUri, "baseUri");
      if (!"http".equals(baseUri.getScheme()) && !"https".equals(baseUri.getScheme())) {
        throw new IllegalArgumentException("Keyward's URL must be http:// or https://, got '"
            + baseUri + "'");
      }
      if (!wellFormed(verifyKey)) {
        throw new IllegalArgumentException("the verify key must be a Keyward key (printable"
            + " ASCII); got " + (verifyKey == null ? "none" : verifyKey.length() + " characters"));
      }
      this.baseUri = baseUri;
      this.verifyKey = verifyKey;
    }

    private static Duration positive(String name, Duration value, Duration max) {
      Objects.requireNonNull(value, name);
      if (value.isNegative() || value.isZero() || value.compareTo(max) > 0) {
        throw new IllegalArgumentException(name + " must be from 1 ms to " + max + ", got "
            + value);
      }
      return value;
    }

    public Builder clock(Clock value) {
      clock = Objects.requireNonNull(value, "clock");
      return this;
    }

    /** The longest a verification waits for Keyward, retry included (1 s). */
    public Builder timeout(Duration value) {
      timeout = positive("timeout", value, Duration.ofSeconds(30));
      return this;
    }

    /** How long a VALID answer is used without asking again (30 s). */
    public Builder fresh(Duration value) {
      fresh = positive("fresh", value, Duration.ofHours(1));
      return this;
    }

    /** The fresh window while revocations may be missed (2 s). */
    public Builder unsyncedFresh(Duration value) {
      unsyncedFresh = positive("unsyncedFresh", value, Duration.ofHours(1));
      return this;
    }

    /** How long a denial is used without asking again (5 s). */
    public Builder negative(Duration value) {
      negative = positive("negative", value, Duration.ofMinutes(10));
      return this;
    }

    /**
     * The longest stale-ok bound a route may use with this verifier (5 min; the adapters refuse
     * longer ones): a decision to keep serving keys while Keyward is away for at most this long.
     */
    public Builder maxStale(Duration value) {
      maxStale = positive("maxStale", value, Duration.ofDays(1));
      return this;
    }

    public Builder maxEntries(long value) {
      if (value < 1) {
        throw new IllegalArgumentException("maxEntries must be at least 1, got " + value);
      }
      maxEntries = value;
      return this;
    }

    /** Whether to subscribe to pushed revocations (on; off: the fresh window bounds them). */
    public Builder subscribe(boolean value) {
      subscribe = value;
      return this;
    }

    public KeywardVerifier build() {
      return new KeywardVerifier(this);
    }
  }
}
