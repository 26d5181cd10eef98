package io.keyward.server.auth;

import io.helidon.http.HeaderNames;
import io.keyward.admin.Permissions;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyRecord;
import io.keyward.key.ParsedKey;
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

  private final Verifier verifier;
  private final KeyFormat format;

  public RootKeyAuthenticator(Verifier verifier, KeyFormat format) {
    this.verifier = verifier;
    this.format = format;
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
    String header = request.headers().first(HeaderNames.AUTHORIZATION).orElse(null);
    if (header == null) {
      throw ApiError.unauthorized("missing 'Authorization: Bearer <root key>' header");
    }
    if (!header.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      throw ApiError.unauthorized("Authorization header must use the Bearer scheme");
    }
    String token = header.substring(BEARER.length()).strip();
    // Callers' keys are issued by this deployment. Anything else is refused by its shape, so an
    // unauthenticated flood of made-up bearer strings costs no database lookup.
    if (!(format.parse(token) instanceof ParsedKey.Issued)) {
      throw ApiError.unauthorized("the bearer key is not a key issued by this Keyward");
    }
    return switch (verifier.verifyCaller(token)) {
      case Verdict.Valid valid -> valid.key();
      case Verdict.Denied denied ->
          throw ApiError.unauthorized("the bearer key is not valid (" + denied.outcome() + ")");
      case Verdict.Unavailable unavailable ->
          throw ApiError.unavailable("cannot check the bearer key now: " + unavailable.reason());
    };
  }
}
