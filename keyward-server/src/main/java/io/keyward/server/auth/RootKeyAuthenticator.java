package io.keyward.server.auth;

import io.helidon.http.HeaderNames;
import io.keyward.admin.Permissions;
import io.keyward.key.KeyRecord;
import io.keyward.server.api.ApiError;
import io.keyward.verify.Verdict;
import io.keyward.verify.Verifier;
import io.helidon.webserver.http.ServerRequest;

/**
 * Checks the {@code Authorization: Bearer <key>} of admin and verify calls. A root key is an
 * ordinary Keyward key holding {@link Permissions#ADMIN} (or {@link Permissions#VERIFY} for
 * verify-only callers), so it goes through the same verifier and cache as any key. It must be a
 * key this deployment issued (its prefix and format): imported keys cannot call Keyward.
 */
public final class RootKeyAuthenticator {
  private static final String BEARER = "Bearer ";
  /** The message of every 401 for a bearer key that was sent but refused. */
  public static final String REFUSED = "the bearer key is not valid for this Keyward";

  private final Verifier verifier;
  public RootKeyAuthenticator(Verifier verifier) {
    this.verifier = verifier;
  }

  /** The caller's key, if it may manage keys; else 401, 403 or 503. */
  public KeyRecord requireAdmin(ServerRequest request) {
    KeyRecord caller = authenticate(request);
    if (!Permissions.mayAdminister(caller)) {
      throw ApiError.forbidden("this key lacks the '" + Permissions.ADMIN + "' scope");
    }
    return caller;
  }

  /** The caller's key, if it may call verify; else 401, 403 or 503. */
  public KeyRecord requireVerifier(ServerRequest request) {
    KeyRecord caller = authenticate(request);
    if (!Permissions.mayVerify(caller)) {
      throw ApiError.forbidden(
          "this key lacks the '" + Permissions.VERIFY + "' or '" + Permissions.ADMIN + "' scope");
    }
    return caller;
  }

  private KeyRecord authenticate(ServerRequest request) {
    if (request.headers().contains(HeaderNames.AUTHORIZATION)
        && request.headers().get(HeaderNames.AUTHORIZATION).allValues().size() > 1) {
      // Which one would win differs between proxies and servers: refuse rather than guess.
      throw ApiError.badRequest("more than one Authorization header; send exactly one");
    }
    String header = request.headers().first(HeaderNames.AUTHORIZATION).orElse(null);
    if (header == null) {
      throw ApiError.unauthorized("missing 'Authorization: Bearer <root key>' header");
    }
    if (!header.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      throw ApiError.unauthorized("Authorization header must use the Bearer scheme");
    }
    String token = header.substring(BEARER.length()).strip();
    // Callers' keys are issued by this deployment: verifyCaller refuses any other shape as
    // NOT_FOUND by its text alone, so a flood of made-up bearer strings costs no database lookup.
    return switch (verifier.verifyCaller(token)) {
      case Verdict.Valid valid -> valid.key();
      // One answer for every refused key: an unauthenticated holder learns nothing of its state
      // (revoked, disabled, expired, unknown, mistyped).
      case Verdict.Denied denied -> throw ApiError.unauthorized(REFUSED);
      case Verdict.Unavailable unavailable ->
          throw ApiError.unavailable("cannot check the bearer key now: " + unavailable.reason());
    };
  }
}
