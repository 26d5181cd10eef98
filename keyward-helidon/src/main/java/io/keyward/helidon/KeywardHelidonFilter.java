package io.keyward.helidon;

import io.helidon.http.HeaderName;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import io.keyward.client.Decision;
import io.keyward.client.Edge;
import io.keyward.client.KeywardVerifier;
import io.keyward.client.Warnings;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Puts Keyward in front of a Helidon SE 4 application ({@code routing.addFilter(filter)}): for a
 * request whose path starts with one of its routes' prefixes, reads the client's key
 * ({@code Authorization: Bearer}, or a configured header whose whole value is the key), asks
 * {@link KeywardVerifier} with that route's scopes and failure policy, and:
 *
 * <ul>
 *   <li>allowed: registers a {@link Identity} in the request's context
 *       ({@code request.context().get(Identity.class)}) and proceeds;
 *   <li>denied: 401 (no key, a key that is not valid, several key headers) or 403 (a missing
 *       scope), with a {@code WWW-Authenticate} challenge and a small JSON body;
 *   <li>cannot decide: 503 with {@code Retry-After: 1}, never 401.
 * </ul>
 *
 * Anything unexpected inside it is a 503 and a rate-limited warning, never a 500.
 */
public final class KeywardHelidonFilter implements Filter {
  private static final System.Logger LOG = System.getLogger(KeywardHelidonFilter.class.getName());

  /** Who the request's key is, and how sure: registered in the request context when allowed. */
  public record Identity(String keyId, String ownerId, Set<String> scopes, Decision.Basis basis) {
    /** Allowed without Keyward's confirmation (stale or open). */
    public boolean degraded() {
      return basis != Decision.Basis.CONFIRMED;
    }
  }

  private final KeywardVerifier verifier;
  private final HeaderName keyHeader;
  private final boolean bearer;
  private final List<Edge.Route> routes;
  private final Warnings warnings = new Warnings(KeywardHelidonFilter.class);

  private KeywardHelidonFilter(Builder b) {
    this.routes = b.checkedRoutes("KeywardHelidonFilter");
    this.verifier = b.verifier();
    this.keyHeader = HeaderNames.create(b.keyHeaderName());
    this.bearer = b.keyHeaderName().equalsIgnoreCase("Authorization");
  }

  public static Builder builder(KeywardVerifier verifier) {
    return new Builder(verifier);
  }

  @Override
  public void filter(FilterChain chain, RoutingRequest request, RoutingResponse response) {
    Edge.Route route = Edge.routeFor(routes, request.path().path());
    if (route == null) {
      chain.proceed();
      return;
    }
    Decision decision;
    try {
      decision = decide(request, route);
    } catch (RuntimeException e) {
      warnings.warn("failure", "KeywardHelidonFilter failed unexpectedly; answering 503: "
          + e.getClass().getName() + " (its message is not logged: it may hold the key)");
      decision = new Decision.CannotDecide("unexpected");
    }
    switch (decision) {
      case Decision.Allowed allowed -> {
        request.context().register(new Identity(allowed.keyId(), allowed.ownerId(),
            allowed.scopes(), allowed.basis()));
        chain.proceed();
      }
      default -> refuse(response, Edge.refusal(decision, route.scopes()));
    }
  }

  private Decision decide(RoutingRequest request, Edge.Route route) {
    List<String> values = request.headers().contains(keyHeader)
        ? request.headers().get(keyHeader).allValues() : List.of();
    return Edge.verify(verifier, values, bearer, route.scopes(), route.policy());
  }

  private static void refuse(RoutingResponse response, Edge.Refusal refusal) {
    if (response.isSent()) {
      return;
    }
    response.status(Status.create(refusal.status()));
    if (refusal.challenge() != null) {
      response.header(HeaderNames.WWW_AUTHENTICATE, refusal.challenge());
    }
    if (refusal.retryAfter()) {
      response.header(HeaderNames.RETRY_AFTER, "1");
    }
    response.header(HeaderNames.CACHE_CONTROL, "no-store");
    response.header(HeaderNames.CONTENT_TYPE, "application/json");
    response.send(refusal.body().getBytes(StandardCharsets.UTF_8));
  }



  /** Settings, checked when set ({@link Edge.FilterBuilder}). */
  public static final class Builder extends Edge.FilterBuilder<Builder> {
    private Builder(KeywardVerifier verifier) {
      super(verifier);
    }

    public KeywardHelidonFilter build() {
      return new KeywardHelidonFilter(this);
    }
  }
}
