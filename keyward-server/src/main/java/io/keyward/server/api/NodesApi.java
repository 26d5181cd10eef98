package io.keyward.server.api;

import io.helidon.http.Status;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.keyward.server.auth.RootKeyAuthenticator;
import io.keyward.store.StoreException;
import io.keyward.store.postgres.NodeRegistry;
import java.util.List;
import java.util.function.Supplier;

/** {@code GET /v1/nodes}: the live nodes of this deployment, from the node registry. */
public final class NodesApi {
  private final RootKeyAuthenticator auth;
  private final Supplier<List<NodeRegistry.Node>> liveNodes;
  private final Supplier<String> thisNode;

  public NodesApi(RootKeyAuthenticator auth, Supplier<List<NodeRegistry.Node>> liveNodes,
      Supplier<String> thisNode) {
    this.auth = auth;
    this.liveNodes = liveNodes;
    this.thisNode = thisNode;
  }

  /** The live nodes, or a 503 when the registry cannot be read. */
  static List<NodeRegistry.Node> read(Supplier<List<NodeRegistry.Node>> liveNodes) {
    try {
      return liveNodes.get();
    } catch (StoreException e) {
      throw ApiError.unavailable("the node registry cannot be read now; retry");
    }
  }

  public void register(RouteTable routing) {
    routing.get("/v1/nodes", this::list);
  }

  private void list(ServerRequest request, ServerResponse response) {
    auth.requireAdmin(request);
    List<NodeRegistry.Node> nodes = read(liveNodes);
    Responses.send(request, response, Status.OK_200, Json.writeObject(g -> {
      g.writeStringField("self", thisNode.get());
      g.writeArrayFieldStart("nodes");
      for (NodeRegistry.Node node : nodes) {
        g.writeStartObject();
        g.writeStringField("nodeId", node.nodeId());
        g.writeStringField("release", node.release());
        g.writeStringField("contractSha256", node.contractSha256());
        g.writeStringField("host", node.host());
        Json.writeInstant(g, "startedAt", node.startedAt());
        Json.writeInstant(g, "heartbeatAt", node.heartbeatAt());
        g.writeEndObject();
      }
      g.writeEndArray();
    }));
  }
}
