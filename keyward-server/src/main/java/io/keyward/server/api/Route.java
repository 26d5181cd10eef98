package io.keyward.server.api;

import java.util.List;

/**
 * Every HTTP route Keyward serves. Registration and the OpenAPI completeness test both read this
 * list, so a route cannot be added without being described.
 *
 * @param openApiPath the path as OpenAPI writes it ({@code {keyId}} parameters)
 */
public record Route(String method, String openApiPath) {
  public static final List<Route> ALL =
      List.of(
          new Route("POST", "/v1/keys"),
          new Route("GET", "/v1/keys"),
          new Route("POST", "/v1/keys/import"),
          new Route("POST", "/v1/keys/verify"),
          new Route("GET", "/v1/keys/{keyId}"),
          new Route("PATCH", "/v1/keys/{keyId}"),
          new Route("POST", "/v1/keys/{keyId}/revoke"),
          new Route("POST", "/v1/keys/{keyId}/rotate"),
          new Route("GET", "/v1/nodes"),
          new Route("GET", "/v1/switches"),
          new Route("GET", "/v1/switches/{name}"),
          new Route("PUT", "/v1/switches/{name}"),
          new Route("GET", "/v1/switches/{name}/history"),
          new Route("GET", "/v1/switches/{name}/disagreements"),
          new Route("GET", "/v1/keys/{keyId}/usage"),
          new Route("GET", "/v1/usage"),
          new Route("GET", "/v1/usage/exporters"),
          new Route("POST", "/v1/usage/exporters/{name}/pause"),
          new Route("POST", "/v1/usage/exporters/{name}/resume"),
          new Route("DELETE", "/v1/usage/exporters/{name}"),
          new Route("GET", "/v1/forward-auth"),
          new Route("GET", "/v1/invalidations"),
          new Route("GET", "/health/live"),
          new Route("GET", "/health/ready"),
          new Route("GET", "/metrics"),
          new Route("GET", "/openapi.json"));
}
