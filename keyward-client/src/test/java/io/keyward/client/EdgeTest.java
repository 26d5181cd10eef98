package io.keyward.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** What every adapter answers: the key read from its header, and each refusal's answer. */
class EdgeTest {
  private static final List<String> SCOPES = List.of("orders:read");

  @Test
  void noKeyAnotherSchemeOrSeveralHeadersAreRefusedWithoutAskingKeyward() {
    // A verifier nothing listens behind: any question to it would be "cannot decide".
    try (KeywardVerifier verifier = KeywardVerifier.builder(URI.create("http://127.0.0.1:9"),
        "kw_live_verify").subscribe(false).build()) {
      FailurePolicy closed = FailurePolicy.closed();
      assertThat(Edge.verify(verifier, List.of(), true, SCOPES, closed))
          .isEqualTo(new Decision.Denied("MISSING"));
      assertThat(Edge.verify(verifier, List.of("Basic dXNlcjpwYXNz"), true, SCOPES, closed))
          .isEqualTo(new Decision.Denied("MISSING"));
      assertThat(Edge.verify(verifier, List.of("Bearer    "), true, SCOPES, closed))
          .isEqualTo(new Decision.Denied("MISSING"));
      assertThat(Edge.verify(verifier, List.of("Bearer a", "Bearer b"), true, SCOPES, closed))
          .isEqualTo(new Decision.Denied("SEVERAL"));
      assertThat(Edge.verify(verifier, List.of("bearer \u0000\u00ff"), true, SCOPES, closed))
          .isEqualTo(new Decision.Denied("MALFORMED"));
      assertThat(verifier.stats().remoteCalls()).isZero();
      // A key is asked about: here Keyward is unreachable, so "cannot decide", never a denial.
      assertThat(Edge.verify(verifier, List.of("kw_live_1" + "a".repeat(39)), false, SCOPES,
          closed)).isInstanceOf(Decision.CannotDecide.class);
    }
  }

  @Test
  void eachRefusalHasItsStatusChallengeAndBody() {
    assertThat(Edge.refusal(new Decision.Denied("MISSING"), SCOPES))
        .isEqualTo(new Edge.Refusal(401, "UNAUTHORIZED", "no API key", Edge.REALM, false));
    assertThat(Edge.refusal(new Decision.Denied("REVOKED"), SCOPES).challenge())
        .isEqualTo(Edge.REALM + ", error=\"invalid_token\"");
    assertThat(Edge.refusal(new Decision.Denied("NOT_FOUND"), SCOPES).message())
        .isEqualTo(Edge.refusal(new Decision.Denied("REVOKED"), SCOPES).message());
    assertThat(Edge.refusal(new Decision.Denied("SEVERAL"), SCOPES).challenge())
        .contains("invalid_request");
    Edge.Refusal scope = Edge.refusal(new Decision.Denied("INSUFFICIENT_SCOPE"),
        List.of("orders:read", "orders:write"));
    assertThat(scope.status()).isEqualTo(403);
    assertThat(scope.challenge()).endsWith("scope=\"orders:read orders:write\"");
    Edge.Refusal undecided = Edge.refusal(new Decision.CannotDecide("down"), SCOPES);
    assertThat(undecided.status()).isEqualTo(503);
    assertThat(undecided.retryAfter()).isTrue();
    assertThat(undecided.body()).isEqualTo(
        "{\"error\":{\"code\":\"UNAVAILABLE\",\"message\":\"authentication is unavailable; retry\"}}");
    assertThatThrownBy(() -> Edge.refusal(new Decision.Allowed("k", "o", Set.of(),
        Decision.Basis.CONFIRMED), SCOPES)).isInstanceOf(IllegalArgumentException.class);
  }
}
