// Which traffic-management actions a node of the mesh graph offers, and about what.
import type { GraphNode } from "../generated/GraphNode";
import type { MtlsForm } from "../actions/trafficForms";
import type { PanelKind } from "./TrafficManagement.svelte";

export interface NodeActions {
  namespace: string;
  service: string | null;
  kinds: PanelKind[];
  mtlsScope: MtlsForm["scope"];
  workload: string;
  /** What the button says the actions are about. */
  about: string;
}

const SERVICE_KINDS: PanelKind[] = ["route", "fault", "policy", "breaker"];

export function nodeActions(node: GraphNode): NodeActions | null {
  const base = { namespace: node.namespace, service: null, workload: "", mtlsScope: "namespace" as const };
  switch (node.details.kind) {
    case "service":
      return { ...base, service: node.name, kinds: SERVICE_KINDS, about: node.name };
    case "virtual-service":
      // The ingress's VirtualService routes the gateway, not a service of the mesh.
      if (node.details.gateways.length > 0) return null;
      return { ...base, service: node.details.hosts[0]?.split(".")[0] ?? node.name, kinds: SERVICE_KINDS, about: node.name };
    case "subset":
      return { ...base, service: node.details.service, kinds: ["route", "breaker"], about: node.details.service };
    case "workload":
      return { ...base, kinds: ["mtls"], mtlsScope: "workload", workload: node.name, about: node.name };
    case "namespace":
      return { ...base, namespace: node.name, kinds: ["mtls", "reset"], about: `namespace ${node.name}` };
    default:
      return null;
  }
}
