package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.keyward.server.api.Route;
import io.keyward.server.api.SystemApi;
import java.io.InputStream;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The OpenAPI document describes exactly the routes the server registers. */
class OpenApiTest {
  @Test
  void everyRouteIsDescribedAndNothingElse() throws Exception {
    JsonNode document;
    try (InputStream in = SystemApi.class.getResourceAsStream(SystemApi.OPENAPI_RESOURCE)) {
      document = new ObjectMapper().readTree(in);
    }
    Set<String> described = new HashSet<>();
    document.get("paths").properties().forEach(path -> path.getValue().properties().forEach(
        operation -> {
          if (Set.of("get", "post", "patch", "put", "delete").contains(operation.getKey())) {
            described.add(operation.getKey().toUpperCase(Locale.ROOT) + " " + path.getKey());
          }
        }));
    Set<String> served = new HashSet<>();
    for (Route route : Route.ALL) {
      served.add(route.method() + " " + route.openApiPath());
    }

    assertThat(described).isEqualTo(served);
    assertThat(document.get("openapi").asText()).startsWith("3.");
  }

  @Test
  void everyOperationDocumentsItsResponsesAndTheErrorShape() throws Exception {
    JsonNode document;
    try (InputStream in = SystemApi.class.getResourceAsStream(SystemApi.OPENAPI_RESOURCE)) {
      document = new ObjectMapper().readTree(in);
    }
    Set<String> methods = Set.of("get", "post", "patch", "put", "delete");
    document.get("paths").properties().forEach(path -> path.getValue().properties().stream()
        .filter(operation -> methods.contains(operation.getKey()))
        .forEach(operation -> {
          JsonNode responses = operation.getValue().get("responses");
          assertThat(responses).as(operation.getKey() + " " + path.getKey()).isNotNull();
          assertThat(responses.properties()).as(operation.getKey() + " " + path.getKey())
              .isNotEmpty();
        }));
    assertThat(document.at("/components/schemas/Error/properties/error")).isNotNull();
  }

  @Test
  void documentStatesTheServersLimitsMediaTypesAndSheddingAsTheCodeHasThem() throws Exception {
    JsonNode document;
    try (InputStream in = SystemApi.class.getResourceAsStream(SystemApi.OPENAPI_RESOURCE)) {
      document = new ObjectMapper().readTree(in);
    }
    JsonNode schemas = document.at("/components/schemas");
    assertThat(schemas.at("/VerifyRequest/properties/key/description").asText())
        .contains(String.format("over %d characters", io.keyward.key.KeyFormat.MAX_KEY_LENGTH_CHARS));
    assertThat(schemas.at("/Scope/pattern").asText())
        .isEqualTo("^" + io.keyward.admin.KeyAttributes.SCOPE_PATTERN.pattern() + "$");
    assertThat(schemas.at("/Scope/maxLength").asInt()).isEqualTo(100);
    assertThat(schemas.at("/CreateKeyRequest/properties/scopes/maxItems").asInt())
        .isEqualTo(io.keyward.admin.KeyAttributes.MAX_SCOPES);
    assertThat(schemas.at("/VerifyRequest/properties/scopes/maxItems").asInt())
        .isEqualTo(io.keyward.server.api.KeysApi.MAX_REQUIRED_SCOPES);
    assertThat(schemas.at("/ImportKeyRequest/properties/expiresAt/description").asText())
        .contains("must be in the future");

    Set<String> methods = Set.of("get", "post", "patch", "put", "delete");
    document.get("paths").properties().forEach(path -> path.getValue().properties().stream()
        .filter(operation -> methods.contains(operation.getKey()))
        .forEach(operation -> {
          String name = operation.getKey() + " " + path.getKey();
          JsonNode content = operation.getValue().at("/requestBody/content");
          if (!content.isMissingNode()) {
            Set<String> types = new HashSet<>();
            content.fieldNames().forEachRemaining(types::add);
            assertThat(types).as(name).isEqualTo(operation.getKey().equals("patch")
                ? Set.of(io.keyward.server.api.KeysApi.JSON, io.keyward.server.api.KeysApi.MERGE_PATCH_JSON)
                : Set.of(io.keyward.server.api.KeysApi.JSON));
          }
          boolean shed = !(path.getKey().startsWith("/health/") || path.getKey().equals("/metrics")
              || path.getKey().equals("/openapi.json"));
          assertThat(operation.getValue().at("/responses").has("429")).as(name).isEqualTo(shed);
        }));
  }
}
