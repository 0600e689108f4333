{{/* Names. */}}
{{- define "ordermesh.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ordermesh.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/name: ordermesh
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: ordermesh
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ordermesh.selectorLabels" -}}
app.kubernetes.io/name: ordermesh
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ordermesh.name" -}}
{{ include "ordermesh.fullname" .root }}-{{ .component }}
{{- end -}}

{{- define "ordermesh.image" -}}
{{ .root.Values.image.repository }}/{{ .component }}:{{ .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- end -}}

{{/* A service's settings: defaults, overridden by services.<name>. */}}
{{- define "ordermesh.serviceValues" -}}
{{- $own := index .root.Values.services .component | default dict -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.defaults) (deepCopy $own)) -}}
{{- end -}}

{{- define "ordermesh.authSecret" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "ordermesh.fullname" .)) -}}
{{- end -}}

{{- define "ordermesh.databaseSecret" -}}
{{- .Values.database.existingSecret | default (printf "%s-database" (include "ordermesh.fullname" .)) -}}
{{- end -}}

{{- define "ordermesh.postgresName" -}}
{{ include "ordermesh.fullname" . }}-postgresql
{{- end -}}

{{/*
The in-cluster base URL of a service: its headless Service, whose name
resolves to every ready pod, so that callers (the gateway and the other
services) spread their HTTP/2 calls over all of them instead of one
connection to one pod, and learn within seconds that a pod stopped.
*/}}
{{- define "ordermesh.endpoint" -}}
http://{{ include "ordermesh.name" . }}-headless:8080
{{- end -}}

{{/* Pod and container security settings shared by every ordermesh pod. */}}
{{- define "ordermesh.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{- define "ordermesh.topologySpread" -}}
{{- if .spread }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "ordermesh.selectorLabels" . | nindent 8 }}
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "ordermesh.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}

{{/*
A pod's terminationGracePeriodSeconds, derived (values.yaml, shutdown):
its preStop sleep, the drain while callers stop picking it, the time its
calls get to finish, and 5 s to spare. Call with dict "root" $ "preStop"
the pod's preStop.
*/}}
{{- define "ordermesh.gracePeriod" -}}
{{- $sleep := 0 -}}
{{- with .preStop }}{{ with .sleep }}{{ $sleep = int .seconds }}{{ end }}{{ end -}}
{{- add $sleep .root.Values.shutdown.endpointsLagSeconds .root.Values.shutdown.finishSeconds 5 -}}
{{- end -}}

{{/* Environment every binary shares: telemetry and the pod's identity. */}}
{{- define "ordermesh.commonEnv" -}}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: GOMEMLIMIT
  valueFrom: {resourceFieldRef: {resource: limits.memory}}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: ADDR
  value: ":8080"
- name: SHUTDOWN_DRAIN_DELAY
  value: {{ printf "%ds" (int .Values.shutdown.endpointsLagSeconds) | quote }}
- name: SHUTDOWN_TIMEOUT
  value: {{ printf "%ds" (int .Values.shutdown.finishSeconds) | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME),service.namespace=ordermesh"
{{- with .Values.telemetry.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $.Values.telemetry.otlpProtocol | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $.Values.telemetry.sampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $.Values.telemetry.samplerArg | quote }}
{{- end }}
{{- with .Values.telemetry.pyroscope.serverAddress }}
- name: PYROSCOPE_SERVER_ADDRESS
  value: {{ . | quote }}
{{- end }}
{{- range $name, $s := (include "ordermesh.calls" . | fromYaml) }}
- name: {{ upper $name }}_URL
  value: {{ include "ordermesh.endpoint" (dict "root" $ "component" $name) | quote }}
{{- end }}
{{- end -}}

{{/*
The bundled PostgreSQL's password: from values, else the one an earlier
release stored, else a new random one (helm template prints a new one each
time; an install keeps it across upgrades).
*/}}
{{- define "ordermesh.postgresPassword" -}}
{{- if .Values.database.bundled.password -}}
{{- .Values.database.bundled.password -}}
{{- else -}}
{{- $old := lookup "v1" "Secret" .Release.Namespace (include "ordermesh.databaseSecret" .) -}}
{{- if and $old (index ($old.data | default dict) "postgres-password") -}}
{{- index $old.data "postgres-password" | b64dec -}}
{{- else -}}
{{- randAlphaNum 24 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy egress to the service's database. */}}
{{- define "ordermesh.databaseEgress" -}}
{{- if .Values.database.bundled.enabled -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "ordermesh.selectorLabels" (dict "root" . "component" "postgresql") | nindent 10 }}
  ports:
    - {port: 5432, protocol: TCP}
{{- else -}}
- ports:
    - {port: {{ .Values.networkPolicy.database.port }}, protocol: TCP}
  {{- with .Values.networkPolicy.database.cidrs }}
  to:
    {{- range . }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  {{- end }}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy egress to the API server, for the JWKS that verifies
services' identity tokens. */}}
{{- define "ordermesh.apiServerEgress" -}}
{{- if .Values.serviceIdentity.kubernetes -}}
{{- $api := .Values.networkPolicy.apiServer -}}
- ports:
    {{- range $api.ports }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
  {{- with $api.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy egress every pod needs: DNS, and the telemetry backends. */}}
{{- define "ordermesh.commonEgress" -}}
- to:
    - namespaceSelector:
        matchLabels: {kubernetes.io/metadata.name: {{ .Values.networkPolicy.dns.namespace | quote }}}
      podSelector:
        matchLabels:
          {{- toYaml .Values.networkPolicy.dns.podLabels | nindent 10 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- with .Values.networkPolicy.telemetryTo }}
- to:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
The HS256 key the services sign and verify tokens with: from values, else
the one an earlier release stored, else a new random one kept across
upgrades. Users' tokens must be signed with it (or come from auth.jwksURL).
*/}}
{{- define "ordermesh.signingKey" -}}
{{- if .Values.auth.signingKey -}}
{{- .Values.auth.signingKey -}}
{{- else -}}
{{- $old := lookup "v1" "Secret" .Release.Namespace (include "ordermesh.authSecret" .) -}}
{{- if and $old (index ($old.data | default dict) "jwt-signing-key") -}}
{{- index $old.data "jwt-signing-key" | b64dec -}}
{{- else -}}
{{- randAlphaNum 48 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A workload's ServiceAccount (root, component). No ordermesh binary
calls the Kubernetes API, so no token is mounted. */}}
{{- define "ordermesh.serviceAccount" -}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "ordermesh.name" . }}
  labels:
    {{- include "ordermesh.labels" . | nindent 4 }}
  {{- with .root.Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end -}}

{{/* A Deployment's optional HPA and PDB (root, component, autoscaling,
podDisruptionBudget). */}}
{{- define "ordermesh.scaling" -}}
{{- $name := include "ordermesh.name" . }}
{{- if .autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "ordermesh.labels" . | nindent 4 }}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: {{ $name }}}
  minReplicas: {{ .autoscaling.minReplicas }}
  maxReplicas: {{ .autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: {{ .autoscaling.targetCPUUtilizationPercentage }}}
{{- end }}
{{- if .podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels:
    {{- include "ordermesh.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "ordermesh.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
The environment of a service's container, before overrides.
*/}}
{{- define "ordermesh.serviceEnv" -}}
{{- $root := .root -}}
{{- $name := .name }}
{{ include "ordermesh.commonEnv" $root }}
- name: ADMIN_ADDR
  value: ":9090"
- name: JWT_SIGNING_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "ordermesh.authSecret" $root }}, key: jwt-signing-key}
{{- with $root.Values.auth.jwksURL }}
- name: JWT_JWKS_URL
  value: {{ . | quote }}
{{- end }}
- name: JWT_ISSUER
  value: {{ $root.Values.auth.issuer | quote }}
- name: JWT_AUDIENCE
  value: {{ $root.Values.auth.audience | quote }}
{{- with $root.Values.serviceIdentity }}
{{- if .kubernetes }}
# This service's identity: its ServiceAccount's projected token, which the
# others verify against the cluster's JWKS.
- name: SERVICE_TOKEN_FILE
  value: /var/run/secrets/ordermesh/identity/token
- name: SERVICE_JWKS_URL
  value: {{ .jwksURL | quote }}
- name: SERVICE_JWKS_CA_FILE
  value: /var/run/secrets/ordermesh/identity/ca.crt
- name: SERVICE_JWKS_TOKEN_FILE
  value: /var/run/secrets/ordermesh/identity/api-token
- name: SERVICE_AUDIENCE
  value: {{ .audience | quote }}
- name: SERVICE_SUBJECT_PREFIX
  value: {{ printf "system:serviceaccount:%s:%s-" $root.Release.Namespace (include "ordermesh.fullname" $root) | quote }}
{{- with .issuer }}
- name: SERVICE_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
# The shared URL (with {service}) and this service's own, which
# wins; a Secret needs only one of them.
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "ordermesh.databaseSecret" $root }}, key: database-url, optional: true}
- name: {{ upper $name }}_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "ordermesh.databaseSecret" $root }}, key: {{ $name }}-database-url, optional: true}
- name: DATABASE_CREATE
  value: {{ $root.Values.database.create | quote }}
- name: DATABASE_MAX_CONNS
  value: {{ $root.Values.database.maxConns | quote }}
{{- end -}}

{{/*
ordermesh.env renders an env list: base (a YAML list) with every variable
that overrides (a map) names left out, then overrides. So config.env can
set any variable the chart sets, once, without a duplicate the API server
would keep the last of.
*/}}
{{- define "ordermesh.env" -}}
{{- range $e := (.base | fromYamlArray) }}
{{- if not (hasKey $.overrides $e.name) }}
- {{ toYaml $e | nindent 2 | trim }}
{{- end }}
{{- end }}
{{- range $k, $v := .overrides }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end -}}
