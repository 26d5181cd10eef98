package io.keyward.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.admin.IssuedKey;
import io.keyward.admin.KeyAdministration;
import io.keyward.admin.KeyAttributes;
import io.keyward.admin.KeyPatch;
import io.keyward.key.Environment;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyIds;
import io.keyward.key.KeyRecord;
import io.keyward.key.MalformedReason;
import io.keyward.store.KeyLookup;
import io.keyward.store.KeyStore;
import io.keyward.verify.CacheTier;
import io.keyward.verify.Outcome;
import io.keyward.verify.Verdict;
import io.keyward.verify.Verifier;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The verification decision matrix, run against every store (in memory, PostgreSQL) and, later,
 * every cache configuration: one contract, many configurations. A subclass supplies an empty
 * store for each test.
 */
public abstract class VerificationContract {
  protected final MutableClock clock = MutableClock.startingAt2030();
  protected final KeyFormat format = KeyFormat.withPrefix("kw");
  protected KeyStore store;
  protected Verifier verifier;
  protected KeyAdministration admin;
  protected final AtomicInteger storeLookups = new AtomicInteger();

  /** An empty store for one test. */
  protected abstract KeyStore newEmptyStore();

  /** The second cache tier to verify through; none unless a subclass says otherwise. */
  protected CacheTier secondTier() {
    return CacheTier.NONE;
  }

  @BeforeEach
  void assemble() {
    store = newEmptyStore();
    KeyLookup counting = hash -> {
      storeLookups.incrementAndGet();
      return store.findByHash(hash);
    };
    verifier = Verifier.builder(format, counting).clock(clock).secondTier(secondTier()).build();
    admin = new KeyAdministration(format, store, clock, new KeyIds(clock, new SecureRandom()),
        verifier::invalidate);
  }

  protected IssuedKey create(Set<String> scopes, Instant expiresAt) {
    return admin.create(new KeyAttributes("svc", "acme", scopes, "{\"tier\": \"gold\"}", expiresAt,
        Environment.LIVE));
  }

  protected IssuedKey create() {
    return create(Set.of("read", "write"), null);
  }

  @Test
  void validKeyIsValidWithItsAttributes() {
    IssuedKey key = create();

    Verdict verdict = verifier.verify(key.secret(), List.of("read"));

    assertThat(verdict).isInstanceOf(Verdict.Valid.class);
    KeyRecord record = ((Verdict.Valid) verdict).key();
    assertThat(record.keyId()).isEqualTo(key.record().keyId());
    assertThat(record.ownerId()).isEqualTo("acme");
    assertThat(record.scopes()).containsExactlyInAnyOrder("read", "write");
  }

  @Test
  void unknownWellFormedKeyIsNotFound() {
    assertThat(verifier.verify(format.generate(Environment.LIVE)).outcome())
        .isEqualTo(Outcome.NOT_FOUND);
  }

  @Test
  void keyWithBadChecksumIsMalformedWithoutTouchingTheStore() {
    String key = create().secret();
    String typo = key.substring(0, 20) + (key.charAt(20) == 'a' ? 'b' : 'a') + key.substring(21);

    Verdict verdict = verifier.verify(typo);

    assertThat(verdict).isEqualTo(Verdict.Denied.malformed(MalformedReason.BAD_CHECKSUM));
    assertThat(storeLookups).hasValue(0);
  }

  @Test
  void revokedKeyIsRevokedOnTheNextVerifyEvenWhenCached() {
    IssuedKey key = create();
    assertThat(verifier.verify(key.secret()).outcome()).isEqualTo(Outcome.VALID);

    admin.revoke(key.record().keyId());

    assertThat(verifier.verify(key.secret()).outcome()).isEqualTo(Outcome.REVOKED);
  }

  @Test
  void disabledKeyIsDisabledAndEnabledAgainIsValid() {
    IssuedKey key = create();
    admin.patch(key.record().keyId(), new KeyPatch(null, null, null, null, false));
    assertThat(verifier.verify(key.secret()).outcome()).isEqualTo(Outcome.DISABLED);

    admin.patch(key.record().keyId(), new KeyPatch(null, null, null, null, true));
    assertThat(verifier.verify(key.secret()).outcome()).isEqualTo(Outcome.VALID);
  }

  @Test
  void expiryIsJudgedAtDecisionTimeEvenForACachedKey() {
    IssuedKey key = create(Set.of(), clock.instant().plusSeconds(10));
    assertThat(verifier.verify(key.secret()).outcome()).isEqualTo(Outcome.VALID);
    int lookupsWhenCached = storeLookups.get();

    clock.advance(Duration.ofMillis(9_999));
    assertThat(verifier.verify(key.secret()).outcome()).isEqualTo(Outcome.VALID);
    clock.advance(Duration.ofMillis(1));
    assertThat(verifier.verify(key.secret()).outcome()).isEqualTo(Outcome.EXPIRED);
    assertThat(storeLookups).hasValue(lookupsWhenCached);
  }

  @Test
  void missingScopeIsInsufficientScope() {
    IssuedKey key = create(Set.of("read"), null);

    assertThat(verifier.verify(key.secret(), List.of("read", "write")).outcome())
        .isEqualTo(Outcome.INSUFFICIENT_SCOPE);
    assertThat(verifier.verify(key.secret(), List.of("read")).outcome()).isEqualTo(Outcome.VALID);
    assertThat(verifier.verify(key.secret(), List.of()).outcome()).isEqualTo(Outcome.VALID);
  }

  @Test
  void revokedWinsOverDisabledAndExpired() {
    IssuedKey key = create(Set.of(), clock.instant().plusSeconds(5));
    admin.patch(key.record().keyId(), new KeyPatch(null, null, null, null, false));
    admin.revoke(key.record().keyId());
    clock.advance(Duration.ofSeconds(6));

    assertThat(verifier.verify(key.secret(), List.of("missing")).outcome())
        .isEqualTo(Outcome.REVOKED);
  }

  @Test
  void disabledWinsOverExpiredAndExpiredOverScope() {
    IssuedKey disabled = create(Set.of(), clock.instant().plusSeconds(5));
    admin.patch(disabled.record().keyId(), new KeyPatch(null, null, null, null, false));
    IssuedKey expired = create(Set.of(), clock.instant().plusSeconds(5));
    clock.advance(Duration.ofSeconds(6));

    assertThat(verifier.verify(disabled.secret()).outcome()).isEqualTo(Outcome.DISABLED);
    assertThat(verifier.verify(expired.secret(), List.of("missing")).outcome())
        .isEqualTo(Outcome.EXPIRED);
  }

  @Test
  void importedKeyOfAnyShapeIsValid() {
    String foreign = "sk_live_51HqLyjWDarjtT1zdp7dcXs8Gq2";
    admin.importKey(KeyHash.of(foreign), new KeyAttributes("legacy", "acme", Set.of("read"), "{}",
        null, Environment.LIVE));

    assertThat(verifier.verify(foreign, List.of("read")).outcome()).isEqualTo(Outcome.VALID);
  }

  @Test
  void importedKeyIsValidAtOnceEvenAfterItsNotFoundWasCached() {
    String foreign = "legacy-token-0001";
    assertThat(verifier.verify(foreign).outcome()).isEqualTo(Outcome.NOT_FOUND);

    admin.importKey(KeyHash.of(foreign), new KeyAttributes("legacy", "acme", Set.of(), "{}", null,
        Environment.LIVE));

    assertThat(verifier.verify(foreign).outcome()).isEqualTo(Outcome.VALID);
  }

  @Test
  void keyIssuedUnderAnEarlierPrefixStaysValid() {
    KeyFormat earlier = KeyFormat.withPrefix("acme");
    String oldKey = earlier.generate(Environment.TEST);
    admin.importKey(KeyHash.of(oldKey), new KeyAttributes("old", "acme", Set.of(), "{}", null,
        Environment.TEST));

    assertThat(verifier.verify(oldKey).outcome()).isEqualTo(Outcome.VALID);
  }

  @Test
  void rotatedKeyPredecessorIsValidUntilTheGracePeriodEndsAndExpiredAfter() {
    IssuedKey old = create();
    assertThat(verifier.verify(old.secret()).outcome()).isEqualTo(Outcome.VALID);

    IssuedKey successor = admin.rotate(old.record().keyId(), Duration.ofMinutes(10)).successor();

    assertThat(successor.record().rotatedFrom()).isEqualTo(old.record().keyId());
    assertThat(successor.record().scopes()).isEqualTo(old.record().scopes());
    assertThat(verifier.verify(successor.secret()).outcome()).isEqualTo(Outcome.VALID);
    clock.advance(Duration.ofMinutes(10).minusMillis(1));
    assertThat(verifier.verify(old.secret()).outcome()).isEqualTo(Outcome.VALID);
    clock.advance(Duration.ofMillis(1));
    assertThat(verifier.verify(old.secret()).outcome()).isEqualTo(Outcome.EXPIRED);
    assertThat(verifier.verify(successor.secret()).outcome()).isEqualTo(Outcome.VALID);
  }

  @Test
  void keyIsRotatedOnceAndASecondRotationIsAConflictNotAnEarlyDyingKey() {
    IssuedKey old = create(Set.of(), clock.instant().plus(Duration.ofDays(90)));
    IssuedKey successor = admin.rotate(old.record().keyId(), Duration.ofMinutes(10)).successor();

    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> admin.rotate(old.record().keyId(), Duration.ofMinutes(10)))
        .isInstanceOf(io.keyward.admin.KeyConflictException.class)
        .hasMessageContaining(successor.record().keyId());
    assertThat(successor.record().expiresAt()).isEqualTo(old.record().expiresAt());
  }

  @Test
  void concurrentRotationsOfOneKeyGiveOneSuccessorWithTheOriginalExpiry() throws Exception {
    IssuedKey old = create(Set.of(), clock.instant().plus(Duration.ofDays(90)));
    java.util.List<Object> outcomes = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
    java.util.concurrent.CountDownLatch start = new java.util.concurrent.CountDownLatch(1);
    try (var threads = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < 20; i++) {
        threads.submit(() -> {
          start.await();
          try {
            outcomes.add(admin.rotate(old.record().keyId(), Duration.ofMinutes(10)).successor());
          } catch (io.keyward.admin.KeyConflictException e) {
            outcomes.add(e);
          }
          return null;
        });
      }
      start.countDown();
    }

    java.util.List<IssuedKey> successors = outcomes.stream()
        .filter(IssuedKey.class::isInstance).map(IssuedKey.class::cast).toList();
    assertThat(outcomes).hasSize(20);
    assertThat(successors).hasSize(1);
    assertThat(successors.get(0).record().expiresAt()).isEqualTo(old.record().expiresAt());
    assertThat(verifier.verify(successors.get(0).secret()).outcome()).isEqualTo(Outcome.VALID);
  }

  @Test
  void rotationWithZeroGraceExpiresThePredecessorAtOnce() {
    IssuedKey old = create();

    admin.rotate(old.record().keyId(), Duration.ZERO);

    assertThat(verifier.verify(old.secret()).outcome()).isEqualTo(Outcome.EXPIRED);
  }

  @Test
  void rotatingADisabledKeyGivesADisabledSuccessorAndExpiredKeysCannotBeRotated() {
    IssuedKey disabled = create();
    admin.patch(disabled.record().keyId(), new KeyPatch(null, null, null, null, false));
    IssuedKey expiring = create(Set.of(), clock.instant().plusSeconds(1));
    clock.advance(Duration.ofSeconds(2));

    IssuedKey successor = admin.rotate(disabled.record().keyId(), Duration.ZERO).successor();

    assertThat(verifier.verify(successor.secret()).outcome()).isEqualTo(Outcome.DISABLED);
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> admin.rotate(expiring.record().keyId(), Duration.ZERO))
        .isInstanceOf(io.keyward.admin.KeyConflictException.class)
        .hasMessageContaining("expired");
  }

  @Test
  void notFoundIsCachedBrieflyThenAskedAgain() {
    String unknown = format.generate(Environment.LIVE);
    verifier.verify(unknown);
    verifier.verify(unknown);
    assertThat(storeLookups).hasValue(1);

    clock.advance(Duration.ofSeconds(6));
    verifier.verify(unknown);

    assertThat(storeLookups).hasValue(2);
  }

  @Test
  void storeRecordsReadBackAsWritten() {
    IssuedKey key = create(Set.of("a", "b"), clock.instant().plusSeconds(3600));

    Optional<KeyRecord> read = store.findByHash(key.record().hash());

    assertThat(read).contains(key.record());
  }
}
