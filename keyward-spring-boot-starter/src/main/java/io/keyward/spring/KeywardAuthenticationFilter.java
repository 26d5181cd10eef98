package io.keyward.spring;

import io.keyward.client.Decision;
import io.keyward.client.Edge;
import io.keyward.client.Warnings;
import io.keyward.servlet.KeywardFilter;
import io.keyward.servlet.ServletEdge;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.List;
import org.springframework.security.authentication.AuthenticationManager;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.AuthenticationException;
import org.springframework.security.core.context.SecurityContext;
import org.springframework.security.core.context.SecurityContextHolder;
import org.springframework.security.core.context.SecurityContextHolderStrategy;
import org.springframework.security.web.context.RequestAttributeSecurityContextRepository;
import org.springframework.security.web.context.SecurityContextRepository;
import org.springframework.security.web.firewall.RequestRejectedException;
import org.springframework.web.filter.GenericFilterBean;

/**
 * Keyward in a Spring Security filter chain. For a request under one of the routes it reads the
 * client's key (as {@link KeywardFilter} does), authenticates it through the authentication
 * manager (with {@link KeywardAuthenticationProvider}) and:
 *
 * <ul>
 *   <li>allowed: the security context holds a {@link KeywardAuthenticationToken} (its principal a
 *       {@link KeywardPrincipal}, its authorities {@code SCOPE_<scope>}), and the request carries
 *       the same attributes as with {@link KeywardFilter} ({@code keyward.keyId}, ..., {@code
 *       keyward.degraded} when stale or open);
 *   <li>denied: 401 (no key, a key that is not valid, several key headers) or 403 (a missing
 *       scope), with a {@code WWW-Authenticate} challenge;
 *   <li>cannot decide: 503 with {@code Retry-After: 1}, never 401 (Spring's own failure handler
 *       would rethrow an {@link org.springframework.security.authentication.AuthenticationServiceException}
 *       into a 500: this filter answers it itself).
 * </ul>
 *
 * Requests under no route pass untouched, for the chain's authorization rules to judge. A request
 * forwarded or included to another route's path is checked again for that route (a filter run
 * once per request would let {@code forward:/api/payments} through unchecked); error and async
 * dispatches keep what the request had. Nothing this filter does answers 500: an unexpected
 * failure inside it is a 503 and one rate-limited warning.
 */
public final class KeywardAuthenticationFilter extends GenericFilterBean {
  private static final Edge.Presented UNREADABLE =
      new Edge.Presented(null, new Decision.Denied("MALFORMED"));
  /** The route a request was last authenticated for (identity), as a request attribute. */
  private static final String CHECKED = KeywardAuthenticationFilter.class.getName() + ".route";
  private final AuthenticationManager manager;
  private final String keyHeader;
  private final boolean bearer;
  private final List<Edge.Route> routes;
  private final SecurityContextHolderStrategy contexts;
  private final SecurityContextRepository repository =
      new RequestAttributeSecurityContextRepository();
  private final Warnings warnings = new Warnings(KeywardAuthenticationFilter.class);

  public KeywardAuthenticationFilter(AuthenticationManager manager, String keyHeader,
      List<Edge.Route> routes) {
    this(manager, keyHeader, routes, SecurityContextHolder.getContextHolderStrategy());
  }

  /** With the chain's own {@link SecurityContextHolderStrategy}. */
  public KeywardAuthenticationFilter(AuthenticationManager manager, String keyHeader,
      List<Edge.Route> routes, SecurityContextHolderStrategy contexts) {
    this.manager = manager;
    this.keyHeader = Edge.keyHeader(keyHeader);
    this.bearer = keyHeader.equalsIgnoreCase("Authorization");
    this.routes = List.copyOf(routes);
    this.contexts = contexts;
  }

  @Override
  public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain)
      throws IOException, ServletException {
    if (!(req instanceof HttpServletRequest request)
        || !(res instanceof HttpServletResponse response)
        || req.getDispatcherType() == DispatcherType.ERROR
        || req.getDispatcherType() == DispatcherType.ASYNC) {
      chain.doFilter(req, res);
      return;
    }
    Edge.Route route = ServletEdge.routeOf(request, routes);
    if (route == null || request.getAttribute(CHECKED) == route) {
      chain.doFilter(request, response);
      return;
    }
    authenticate(request, response, chain, route);
  }

  private void authenticate(HttpServletRequest request, HttpServletResponse response,
      FilterChain chain, Edge.Route route) throws IOException, ServletException {
    Authentication result = null;
    Decision refused;
    try {
      Edge.Presented presented;
      try {
        presented = Edge.presented(ServletEdge.keyValues(request, keyHeader), bearer);
      } catch (RequestRejectedException unreadable) {
        // Spring's firewall refuses header values it cannot read (control or non-Latin-1
        // characters) when they are read: a key that is not valid, like any other garbage.
        presented = UNREADABLE;
      }
      if (presented.denied() != null) {
        refused = presented.denied();
      } else {
        result = manager.authenticate(
            KeywardAuthenticationToken.unauthenticated(presented.key(), route));
        refused = result == null || !result.isAuthenticated()
            ? new Decision.Denied("REJECTED") : null;
      }
    } catch (AuthenticationException e) {
      refused = KeywardAuthenticationException.decisionOf(e);
    } catch (RuntimeException e) {
      warnings.warn("failure", "KeywardAuthenticationFilter failed unexpectedly; answering 503: "
          + e.getClass().getName() + " (its message is not logged: it may hold the key)");
      refused = new Decision.CannotDecide("unexpected");
    }
    if (refused != null) {
      contexts.clearContext();
      ServletEdge.refuse(response, Edge.refusal(refused, route.scopes()));
      return;
    }
    SecurityContext context = contexts.createEmptyContext();
    context.setAuthentication(result);
    contexts.setContext(context);
    repository.saveContext(context, request, response);
    request.setAttribute(CHECKED, route);
    if (result.getPrincipal() instanceof KeywardPrincipal principal) {
      request.setAttribute(KeywardFilter.KEY_ID, principal.keyId());
      request.setAttribute(KeywardFilter.OWNER_ID, principal.ownerId());
      request.setAttribute(KeywardFilter.SCOPES, principal.scopes());
      request.setAttribute(KeywardFilter.BASIS, principal.basis().name());
      if (principal.degraded()) {
        request.setAttribute(KeywardFilter.DEGRADED, Boolean.TRUE);
      }
    }
    chain.doFilter(request, response);
  }

  /** The routes this filter protects. */
  public List<Edge.Route> routes() {
    return routes;
  }
}
