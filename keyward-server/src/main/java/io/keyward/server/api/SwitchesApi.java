package io.keyward.server.api;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.keyward.key.KeyRecord;
import io.keyward.rollout.Disagreement;
import io.keyward.rollout.Guard;
import io.keyward.rollout.GuardRules;
import io.keyward.rollout.Rollouts;
import io.keyward.rollout.Stage;
import io.keyward.rollout.SwitchState;
import io.keyward.store.StoreException;
import io.keyward.store.postgres.NodeRegistry;
import io.keyward.store.postgres.PostgresSwitchStore;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * Rollout switches over HTTP (scope {@code keyward:admin}): {@code GET /v1/switches}, {@code GET
 * /v1/switches/{name}}, {@code PUT /v1/switches/{name}}, {@code GET /v1/switches/{name}/history}
 * and {@code GET /v1/switches/{name}/disagreements}. A switch's answer says which live nodes have
 * applied its version; a change is applied on the node that took it before the answer.
 */
public final class SwitchesApi {
  /** A switch this build has a path for. */
  public record KnownSwitch(String name, String description) {}

  private static final Set<String> PUT_FIELDS = Set.of("stage", "canaryBasisPoints",
      "sampleBasisPoints", "reason", "guard");
  private static final Set<String> GUARD_FIELDS = Set.of("minimumSample", "maxErrorRate",
      "maxTimeoutRate", "candidateTimeoutMillis");
  private static final int MAX_REASON_CHARS = 500;
  private static final int MAX_HISTORY = 500;

  private final io.keyward.server.auth.RootKeyAuthenticator auth;
  private final Map<String, KnownSwitch> known = new LinkedHashMap<>();
  private final PostgresSwitchStore store;
  private final Rollouts rollouts;
  private final Runnable syncNow;
  private final Supplier<List<NodeRegistry.Node>> liveNodes;

  public SwitchesApi(io.keyward.server.auth.RootKeyAuthenticator auth, List<KnownSwitch> known,
      PostgresSwitchStore store, Rollouts rollouts, Runnable syncNow,
      Supplier<List<NodeRegistry.Node>> liveNodes) {
    this.auth = auth;
    for (KnownSwitch each : known) {
      this.known.put(each.name(), each);
    }
    this.store = store;
    this.rollouts = rollouts;
    this.syncNow = syncNow;
    this.liveNodes = liveNodes;
  }

  public void register(RouteTable routing) {
    routing
        .get("/v1/switches", this::list)
        .get("/v1/switches/{name}", this::get)
        .put("/v1/switches/{name}", this::put)
        .get("/v1/switches/{name}/history", this::history)
        .get("/v1/switches/{name}/disagreements", this::disagreements);
  }

  private void list(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    Map<String, Long> applied = applied();
    List<NodeRegistry.Node> nodes = nodes();
    Responses.send(request, response, Status.OK_200, Json.writeObject(g -> {
      g.writeArrayFieldStart("switches");
      for (KnownSwitch each : known.values()) {
        g.writeStartObject();
        writeSwitch(g, each, rollouts.board().state(each.name()), applied, nodes);
        g.writeEndObject();
      }
      g.writeEndArray();
    }));
  }

  private void get(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    KnownSwitch each = known(request);
    Map<String, Long> applied = applied();
    List<NodeRegistry.Node> nodes = nodes();
    Responses.send(request, response, Status.OK_200, Json.writeObject(g ->
        writeSwitch(g, each, rollouts.board().state(each.name()), applied, nodes)));
  }

  private void put(ServerRequest request, ServerResponse response) {
    KeyRecord caller = auth.requireAdmin(request);
    KnownSwitch each = known(request);
    RequestFields fields = new RequestFields(KeysApi.jsonBody(request, true), PUT_FIELDS);
    Stage stage = Stage.parse(fields.optionalRawText("stage"));
    if (stage == null) {
      throw ApiError.invalidField("stage", "must be one of off, shadow, canary, on");
    }
    // Shares and rules not sent keep what is stored: merged in the store's transaction, not
    // from this node's view, which may lag.
    Integer canary = basisPoints(fields, "canaryBasisPoints", stage == Stage.CANARY);
    Integer sample = basisPoints(fields, "sampleBasisPoints", false);
    String reason = fields.optionalRawText("reason");
    if (reason == null || reason.isBlank()) {
      throw ApiError.invalidField("reason", "is required: say why, for the audit trail");
    }
    if (reason.length() > MAX_REASON_CHARS) {
      throw ApiError.invalidField("reason", "at most " + MAX_REASON_CHARS + " characters");
    }
    RequestFields.requireStorable("reason", reason);
    java.util.function.UnaryOperator<GuardRules> rules = guardRules(fields);
    rules.apply(GuardRules.DEFAULTS); // each value checked on its own, before anything is stored
    try {
      store.set(new PostgresSwitchStore.Change(each.name(), stage, canary, sample, rules,
          caller.keyId(), reason, null));
    } catch (StoreException e) {
      throw ApiError.unavailable("the switch could not be stored now; retry");
    }
    syncNow.run(); // this node applies it before answering
    Map<String, Long> applied = applied();
    List<NodeRegistry.Node> nodes = nodes();
    Responses.send(request, response, Status.OK_200, Json.writeObject(g ->
        writeSwitch(g, each, rollouts.board().state(each.name()), applied, nodes)));
  }

  private void history(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    KnownSwitch each = known(request);
    int limit = 50;
    String text = request.query().first("limit").orElse(null);
    if (text != null) {
      try {
        limit = Integer.parseInt(text);
      } catch (NumberFormatException e) {
        throw ApiError.invalidField("limit", "must be a whole number");
      }
      if (limit < 1 || limit > MAX_HISTORY) {
        throw ApiError.invalidField("limit", "must be from 1 to " + MAX_HISTORY);
      }
    }
    List<PostgresSwitchStore.HistoryEntry> entries;
    try {
      entries = store.history(each.name(), limit);
    } catch (StoreException e) {
      throw ApiError.unavailable("the switch history cannot be read now; retry");
    }
    Responses.send(request, response, Status.OK_200, Json.writeObject(g -> {
      g.writeStringField("name", each.name());
      g.writeArrayFieldStart("history");
      for (PostgresSwitchStore.HistoryEntry entry : entries) {
        g.writeStartObject();
        g.writeNumberField("version", entry.version());
        g.writeStringField("stage", entry.stage().label());
        g.writeStringField("previousStage",
            entry.previous() == null ? null : entry.previous().label());
        g.writeNumberField("canaryBasisPoints", entry.canaryBasisPoints());
        g.writeStringField("actor", entry.actor());
        g.writeStringField("reason", entry.reason());
        g.writeStringField("evidence", entry.evidence());
        Json.writeInstant(g, "changedAt", entry.changedAt());
        g.writeEndObject();
      }
      g.writeEndArray();
    }));
  }

  private void disagreements(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    KnownSwitch each = known(request);
    List<Disagreement> kept = rollouts.disagreements(each.name());
    Responses.send(request, response, Status.OK_200, Json.writeObject(g -> {
      g.writeStringField("name", each.name());
      g.writeStringField("scope", "this node, the last " + Rollouts.KEPT);
      g.writeArrayFieldStart("disagreements");
      for (Disagreement d : kept) {
        g.writeStartObject();
        Json.writeInstant(g, "at", d.at());
        g.writeNumberField("switchVersion", d.switchVersion());
        g.writeStringField("kind", d.kind().label());
        g.writeStringField("keyId", d.keyId());
        g.writeStringField("control", d.control().name());
        g.writeStringField("candidate", d.candidate() == null ? null : d.candidate().name());
        g.writeStringField("detail", d.detail());
        g.writeEndObject();
      }
      g.writeEndArray();
    }));
  }

  private KnownSwitch known(ServerRequest request) {
    String name = request.path().pathParameters().get("name");
    KnownSwitch each = known.get(name);
    if (each == null) {
      throw ApiError.notFound("no switch named '" + RequestFields.truncate(name) + "'; known: "
          + String.join(", ", known.keySet()));
    }
    return each;
  }

  private static @Nullable Integer basisPoints(RequestFields fields, String field,
      boolean required) {
    JsonNode node = fields.raw(field);
    if (node == null || node.isNull()) {
      if (required) {
        throw ApiError.invalidField(field, "is required for the canary stage (0 to 10000)");
      }
      return null;
    }
    if (!node.isInt() || node.intValue() < 0 || node.intValue() > SwitchState.ALL) {
      throw ApiError.invalidField(field, "must be a whole number from 0 to 10000");
    }
    return node.intValue();
  }

  /** The change the request makes to the stored rules (none: the identity). */
  private static java.util.function.UnaryOperator<GuardRules> guardRules(RequestFields fields) {
    JsonNode node = fields.raw("guard");
    if (node == null || node.isNull()) {
      return rules -> rules;
    }
    if (!node.isObject()) {
      throw ApiError.invalidField("guard", "must be an object");
    }
    for (var names = node.fieldNames(); names.hasNext(); ) {
      String name = names.next();
      if (!GUARD_FIELDS.contains(name)) {
        throw ApiError.invalidField("guard." + RequestFields.truncate(name), "is not a field of"
            + " the guard's rules (" + String.join(", ", GUARD_FIELDS) + ")");
      }
    }
    Integer minimumSample = node.has("minimumSample") ? wholeNumber(node, "minimumSample") : null;
    Double maxErrorRate = node.has("maxErrorRate") ? share(node, "maxErrorRate") : null;
    Double maxTimeoutRate = node.has("maxTimeoutRate") ? share(node, "maxTimeoutRate") : null;
    Integer timeout = node.has("candidateTimeoutMillis")
        ? wholeNumber(node, "candidateTimeoutMillis") : null;
    return current -> {
      try {
        return new GuardRules(
            minimumSample != null ? minimumSample : current.minimumSample(),
            maxErrorRate != null ? maxErrorRate : current.maxErrorRate(),
            maxTimeoutRate != null ? maxTimeoutRate : current.maxTimeoutRate(),
            timeout != null ? timeout : current.candidateTimeoutMillis());
      } catch (IllegalArgumentException e) {
        String field = e.getMessage().substring(0, e.getMessage().indexOf(' '));
        throw ApiError.invalidField("guard." + field,
            e.getMessage().substring(field.length() + 1));
      }
    };
  }

  private static int wholeNumber(JsonNode guard, String field) {
    JsonNode value = guard.get(field);
    if (!value.isInt()) {
      throw ApiError.invalidField("guard." + field, "must be a whole number");
    }
    return value.intValue();
  }

  private static double share(JsonNode guard, String field) {
    JsonNode value = guard.get(field);
    if (!value.isNumber()) {
      throw ApiError.invalidField("guard." + field, "must be a number from 0 to 1");
    }
    return value.doubleValue();
  }

  private Map<String, Long> applied() {
    try {
      return store.appliedVersions();
    } catch (StoreException e) {
      throw ApiError.unavailable("the switches cannot be read now; retry");
    }
  }

  private List<NodeRegistry.Node> nodes() {
    return NodesApi.read(liveNodes);
  }

  private void writeSwitch(JsonGenerator g, KnownSwitch each, SwitchState state,
      Map<String, Long> applied, List<NodeRegistry.Node> nodes) throws IOException {
    g.writeStringField("name", each.name());
    g.writeStringField("description", each.description());
    g.writeStringField("stage", state.stage().label());
    g.writeNumberField("canaryBasisPoints", state.canaryBasisPoints());
    g.writeNumberField("sampleBasisPoints", state.sampleBasisPoints());
    g.writeNumberField("version", state.version());
    Guard.State guard = rollouts.guard().state(state);
    g.writeObjectFieldStart("guard");
    g.writeObjectFieldStart("rules");
    g.writeStringField("revertOn", "the first confirmed false denial; or candidate errors or"
        + " timeouts above their rate over at least minimumSample runs");
    g.writeNumberField("minimumSample", state.rules().minimumSample());
    g.writeNumberField("maxErrorRate", state.rules().maxErrorRate());
    g.writeNumberField("maxTimeoutRate", state.rules().maxTimeoutRate());
    g.writeNumberField("candidateTimeoutMillis", state.rules().candidateTimeoutMillis());
    g.writeEndObject();
    g.writeStringField("scope", "counts of this node under the current version");
    g.writeNumberField("runs", guard.comparisons());
    g.writeNumberField("errors", guard.errors());
    g.writeNumberField("timeouts", guard.timeouts());
    g.writeNumberField("falseDenials", guard.falseDenials());
    g.writeBooleanField("tripped", guard.tripped());
    g.writeStringField("evidence", guard.evidence());
    g.writeEndObject();
    List<String> lagging = new ArrayList<>();
    g.writeArrayFieldStart("nodes");
    for (NodeRegistry.Node node : nodes) {
      @Nullable Long version = applied.get(node.nodeId());
      boolean done = version != null && version >= state.version();
      if (!done) {
        lagging.add(node.nodeId());
      }
      g.writeStartObject();
      g.writeStringField("nodeId", node.nodeId());
      g.writeStringField("release", node.release());
      if (version == null) {
        g.writeNullField("appliedVersion");
      } else {
        g.writeNumberField("appliedVersion", version);
      }
      g.writeBooleanField("applied", done);
      g.writeEndObject();
    }
    g.writeEndArray();
    g.writeStringField("applied", (nodes.size() - lagging.size()) + " of " + nodes.size()
        + " nodes at version " + state.version());
    g.writeArrayFieldStart("lagging");
    for (String node : lagging) {
      g.writeString(node);
    }
    g.writeEndArray();
  }
}
