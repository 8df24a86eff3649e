import * as v from "valibot";

/**
 * What raas sends to and reads from the OpenShift / Kubernetes API, as schemas: every answer
 * is validated once, where the client receives it, and the types below flow from here. Only
 * the fields raas reads are described; other keys pass untouched (loose objects). Messages
 * complete a sentence that starts with the place in the object.
 */

const text = (what: string) => v.string(`is not ${what}`);
const count = (what: string) =>
  v.pipe(v.number(`is not ${what}`), v.integer(`is not ${what}`), v.minValue(0, `is not ${what}`));

const metadata = v.looseObject(
  {
    name: v.pipe(text("a name"), v.minLength(1, "is empty")),
    namespace: v.optional(text("a namespace")),
    resourceVersion: v.optional(text("a resource version (a string)")),
    generation: v.optional(count("a generation (a whole number)")),
  },
  "is not an object",
);

/** An object raas applies (rendered from templates/app/openshift, or a Secret it builds). */
export const KubeObjectSchema = v.looseObject(
  { apiVersion: text("an API version"), kind: text("a kind"), metadata },
  "is not an object",
);
export type KubeObject = v.InferOutput<typeof KubeObjectSchema>;

/** Any object the API answers with: raas reads its name, resourceVersion and generation. */
export const KubeResponse = v.looseObject({ metadata }, "is not an object");
export type KubeResponse = v.InferOutput<typeof KubeResponse>;

/** An object whose keys are all optional (a `spec` or `status`), itself optional. */
const part = <const E extends v.ObjectEntries>(entries: E) =>
  v.optional(v.looseObject(entries, "is not an object"));
const optionalText = (what: string) => v.optional(text(what));
const optionalCount = (what: string) => v.optional(count(what));

export const BuildConfigResponse = v.looseObject(
  { metadata, status: part({ lastVersion: optionalCount("a build number") }) },
  "is not an object",
);

export const BuildResponse = v.looseObject(
  {
    metadata,
    status: part({
      phase: optionalText("a phase"),
      message: optionalText("a message"),
      reason: optionalText("a reason"),
    }),
  },
  "is not an object",
);
export type BuildResponse = v.InferOutput<typeof BuildResponse>;

export const DeploymentResponse = v.looseObject(
  {
    metadata,
    spec: part({ replicas: optionalCount("a replica count") }),
    status: part({
      observedGeneration: optionalCount("a generation"),
      updatedReplicas: optionalCount("a replica count"),
      availableReplicas: optionalCount("a replica count"),
      readyReplicas: optionalCount("a replica count"),
    }),
  },
  "is not an object",
);
export type DeploymentResponse = v.InferOutput<typeof DeploymentResponse>;

/** A Kubernetes Status (the body of an error answer): only its readable message is shown. */
export const StatusBody = v.looseObject({ message: v.string() });

/**
 * A schema issue as the end of a sentence: `metadata.name is missing`. (valibot gives a
 * missing key the message of the object that lacks it; the input tells the two apart.)
 */
export function issueText(issue: v.BaseIssue<unknown>): string {
  const place = v.getDotPath(issue) ?? "the object";
  return `${place} ${issue.input === undefined ? "is missing" : issue.message}`;
}
