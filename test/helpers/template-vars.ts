/** Values for every placeholder of templates/app, as setup would fill them for ISV "acme". */
export const SAMPLE_TEMPLATE_VARS = {
  isv: "acme",
  app_name: "registry",
  namespace: "acme",
  route_host: "registry-acme.apps.c1.example.com",
  git_url: "https://git.example/acme.git",
  git_branch: "main",
  git_install:
    "# git is installed only with openshift_follow = true (the replicas then follow the app repository).",
  server_command: "node --no-memory-reducer server/main.js --config registry.conf",
  min_replicas: "2",
  max_replicas: "10",
  registry_host: "registry-acme.apps.c1.example.com",
  storage_description: "the S3 bucket `raas-acme`",
};
