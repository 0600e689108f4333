// Package k8s_test checks the Helm chart: it lints and renders it with
// the default values and every variant in helm/ordermesh/ci, decodes each
// object strictly into the Kubernetes API types, and checks the
// invariants a working install depends on. The server-side dry-run
// against a real kube-apiserver is `make chart-dryrun`.
package k8s_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/ordermesh/ordermesh/app/components"
	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/internal/gateway"
	"github.com/ordermesh/ordermesh/internal/platform/config"
)

const release = "shop"

// KubeVersion is what `helm template` renders for: the k8s-lab cluster's.
const KubeVersion = "v1.34.4"

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm builds the Helm CLI once from tools/kube (a Go tool) and runs it.
func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	helmOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ordermesh-helm-")
		if err != nil {
			helmErr = err
			return
		}
		helmPath = filepath.Join(dir, "helm")
		cmd := exec.Command("go", "build", "-o", helmPath, "helm.sh/helm/v3/cmd/helm")
		cmd.Dir = filepath.Join(root(t), "tools", "kube")
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			helmErr = fmt.Errorf("build helm: %w\n%s", err, out)
		}
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(helmPath, args...)
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func chart(t *testing.T) string { return filepath.Join(root(t), "helm", "ordermesh") }

// variants are the value sets the chart is checked with: the defaults and
// each file in helm/ordermesh/ci, plus the kind values.
func variants(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chart(t), "ci", "*-values.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("ci values files = %v, %v; want minimal, production and external-db", files, err)
	}
	v := map[string][]string{"default": nil, "kind": {"-f", filepath.Join(root(t), "k8s", "values-kind.yaml")}}
	for _, f := range files {
		v[strings.TrimSuffix(filepath.Base(f), "-values.yaml")] = []string{"-f", f}
	}
	return v
}

// rendered is one variant's objects, decoded strictly.
type rendered struct {
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	secrets      map[string]*corev1.Secret
	policies     []*networkingv1.NetworkPolicy
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	pdbs         []*policyv1.PodDisruptionBudget
	testPods     []*corev1.Pod
	kinds        map[string]int
}

func render(t *testing.T, values []string) *rendered {
	t.Helper()
	args := append([]string{"template", release, chart(t), "--namespace", "shop", "--kube-version", KubeVersion}, values...)
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	r := &rendered{secrets: map[string]*corev1.Secret{}, kinds: map[string]int{}}
	for doc := range strings.SplitSeq(string(out), "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		key := meta.APIVersion + "/" + meta.Kind
		var obj any
		switch key {
		case "apps/v1/Deployment":
			d := new(appsv1.Deployment)
			r.deployments, obj = append(r.deployments, d), d
		case "apps/v1/StatefulSet":
			s := new(appsv1.StatefulSet)
			r.statefulSets, obj = append(r.statefulSets, s), s
		case "v1/Service":
			s := new(corev1.Service)
			r.services, obj = append(r.services, s), s
		case "v1/Secret":
			obj = new(corev1.Secret)
		case "v1/ServiceAccount":
			obj = new(corev1.ServiceAccount)
		case "v1/ConfigMap":
			obj = new(corev1.ConfigMap)
		case "networking.k8s.io/v1/NetworkPolicy":
			p := new(networkingv1.NetworkPolicy)
			r.policies, obj = append(r.policies, p), p
		case "networking.k8s.io/v1/Ingress":
			obj = new(networkingv1.Ingress)
		case "autoscaling/v2/HorizontalPodAutoscaler":
			h := new(autoscalingv2.HorizontalPodAutoscaler)
			r.hpas, obj = append(r.hpas, h), h
		case "policy/v1/PodDisruptionBudget":
			p := new(policyv1.PodDisruptionBudget)
			r.pdbs, obj = append(r.pdbs, p), p
		case "gateway.networking.k8s.io/v1/HTTPRoute":
			obj = new(gatewayv1.HTTPRoute)
		case "monitoring.coreos.com/v1/ServiceMonitor":
			obj = new(monitoringv1.ServiceMonitor)
		case "monitoring.coreos.com/v1/PrometheusRule":
			obj = new(monitoringv1.PrometheusRule)
		case "v1/Pod":
			p := new(corev1.Pod)
			r.testPods, obj = append(r.testPods, p), p
		default:
			t.Fatalf("the chart renders %s, which this test does not know how to check", key)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s does not decode strictly: %v\n%s", key, err, doc)
		}
		if s, ok := obj.(*corev1.Secret); ok {
			r.secrets[s.Name] = s
		}
		r.kinds[meta.Kind]++
	}
	return r
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func TestChartLintsStrictly(t *testing.T) {
	for name, values := range variants(t) {
		if _, err := helm(t, append([]string{"lint", "--strict", chart(t), "--kube-version", KubeVersion}, values...)...); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestChartRendersWorkingObjects(t *testing.T) {
	for name, values := range variants(t) {
		t.Run(name, func(t *testing.T) {
			r := render(t, values)
			if len(r.deployments) < len(mesh.Services) {
				t.Fatalf("%d Deployments, want one per service at least", len(r.deployments))
			}
			for _, d := range r.deployments {
				checkDeployment(t, d)
				checkSelectedByService(t, d, r.services)
				checkEnv(t, d, r)
			}
			for _, s := range r.statefulSets {
				checkSelectedByService(t, &appsv1.Deployment{ObjectMeta: s.ObjectMeta, Spec: appsv1.DeploymentSpec{Template: s.Spec.Template}}, r.services)
			}
			for _, h := range r.hpas {
				if !slices.ContainsFunc(r.deployments, func(d *appsv1.Deployment) bool { return d.Name == h.Spec.ScaleTargetRef.Name }) {
					t.Errorf("HPA %s scales %s, which the chart does not render", h.Name, h.Spec.ScaleTargetRef.Name)
				}
			}
			for _, p := range r.pdbs {
				if n := selected(p.Spec.Selector, r.deployments); n != 1 {
					t.Errorf("PDB %s selects %d Deployments, want 1", p.Name, n)
				}
			}
			if len(r.policies) > 0 {
				checkPolicies(t, r)
			}
		})
	}
}

func TestProductionVariantHasScalingAndPolicies(t *testing.T) {
	r := render(t, variants(t)["production"])
	for kind, want := range map[string]int{"HorizontalPodAutoscaler": 6, "PodDisruptionBudget": 6, "NetworkPolicy": 7, "Ingress": 1, "ServiceMonitor": 1, "PrometheusRule": 1} {
		if got := r.kinds[kind]; got != want {
			t.Errorf("production renders %d %s, want %d", got, kind, want)
		}
	}
	if r.kinds["StatefulSet"] != 0 || r.kinds["Secret"] != 0 {
		t.Errorf("production renders %d StatefulSets and %d Secrets; it uses an external database and existing Secrets", r.kinds["StatefulSet"], r.kinds["Secret"])
	}
	for _, d := range r.deployments {
		if d.Spec.Replicas != nil {
			t.Errorf("%s sets replicas while an HPA owns them", d.Name)
		}
	}
}

func TestBadValuesAreRefusedClearly(t *testing.T) {
	for _, c := range []struct {
		set  []string
		want string
	}{
		{[]string{"image.pullPolicy=Sometimes"}, "/image/pullPolicy"},
		{[]string{"services.shipping.replicas=2"}, "'shipping' not allowed"},
		{[]string{"database.bundled.enabled=false"}, "set database.url, database.urls, database.existingSecret"},
		{[]string{"database.url=mysql://db/x"}, "/database/url"},
		{[]string{"auth.signingKey=short"}, "/auth/signingKey"},
		{[]string{"defaults.resources.requests.memory=lots"}, "/defaults/resources/requests/memory"},
		{[]string{"podSecurityContext.runAsNonRoot=false"}, "/podSecurityContext/runAsNonRoot"},
		{[]string{"httpRoute.enabled=true"}, "httpRoute.parentRefs"},
	} {
		args := []string{"template", release, chart(t), "--kube-version", KubeVersion}
		for _, s := range c.set {
			args = append(args, "--set", s)
		}
		_, err := helm(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--set %v: err = %v, want it to mention %q", c.set, err, c.want)
		}
	}
}

func component(labels map[string]string) string { return labels["app.kubernetes.io/component"] }

func checkDeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext %+v; want runAsNonRoot, a non-zero runAsUser and seccomp RuntimeDefault", d.Name, sc)
	}
	if len(pod.Containers) == 0 {
		t.Fatalf("%s has no containers", d.Name)
	}
	for _, c := range pod.Containers {
		where := d.Name + "/" + c.Name
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: securityContext %+v; want a read-only root, no privilege escalation and every capability dropped", where, sc)
		}
		for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if p == nil {
				t.Errorf("%s has no %s probe", where, name)
				continue
			}
			if !probePortDeclared(p, c.Ports) {
				t.Errorf("%s: the %s probe's port is not a declared container port", where, name)
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: resources %+v; want CPU and memory requests and a memory limit", where, c.Resources)
		}
		if c.ImagePullPolicy == corev1.PullAlways || strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
			t.Errorf("%s: image %s pulled %s; want a tag and no forced pulls", where, c.Image, c.ImagePullPolicy)
		}
	}
}

func probePortDeclared(p *corev1.Probe, ports []corev1.ContainerPort) bool {
	var port intstr.IntOrString
	switch {
	case p.HTTPGet != nil:
		port = p.HTTPGet.Port
	case p.GRPC != nil:
		port = intstr.FromInt32(p.GRPC.Port)
	case p.TCPSocket != nil:
		port = p.TCPSocket.Port
	default:
		return false
	}
	return slices.ContainsFunc(ports, func(cp corev1.ContainerPort) bool {
		return (port.Type == intstr.String && cp.Name == port.StrVal) || (port.Type == intstr.Int && cp.ContainerPort == port.IntVal)
	})
}

func checkSelectedByService(t *testing.T, d *appsv1.Deployment, services []*corev1.Service) {
	t.Helper()
	labels := d.Spec.Template.Labels
	for _, s := range services {
		if len(s.Spec.Selector) == 0 || !subset(s.Spec.Selector, labels) {
			continue
		}
		for _, p := range s.Spec.Ports {
			if !slices.ContainsFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool {
				return slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool {
					return cp.Name == p.TargetPort.StrVal || cp.ContainerPort == p.TargetPort.IntVal
				})
			}) {
				t.Errorf("Service %s targets port %s, which %s does not declare", s.Name, p.TargetPort.String(), d.Name)
			}
		}
		return
	}
	t.Errorf("no Service selects %s", d.Name)
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func selected(sel *metav1.LabelSelector, ds []*appsv1.Deployment) int {
	n := 0
	for _, d := range ds {
		if sel != nil && subset(sel.MatchLabels, d.Spec.Template.Labels) {
			n++
		}
	}
	return n
}

// checkEnv holds a Deployment's environment to what its binary reads: the
// variables it needs are set (secrets to keys that exist), endpoints point
// at rendered Services, and no variable is one the binary ignores.
func checkEnv(t *testing.T, d *appsv1.Deployment, r *rendered) {
	t.Helper()
	svc := component(d.Spec.Template.Labels)
	c := d.Spec.Template.Spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	known := config.Names(mesh.NewConfig(components.All...))
	needs := []string{}
	if svc == "gateway" {
		known = config.Names(gateway.Config{})
		for _, s := range mesh.Services {
			needs = append(needs, mesh.EndpointEnv(s))
		}
	} else {
		needs = append(needs, "JWT_SIGNING_KEY", "ADMIN_ADDR")
		for _, callee := range mesh.Calls[svc] {
			needs = append(needs, mesh.EndpointEnv(callee))
		}
		// One of the two database variables must resolve.
		if !secretResolves(env["DATABASE_URL"], r) && !secretResolves(env[mesh.DatabaseEnv(svc)], r) {
			t.Errorf("%s: neither DATABASE_URL nor %s resolves to a Secret key", d.Name, mesh.DatabaseEnv(svc))
		}
	}
	for _, n := range needs {
		e, ok := env[n]
		if !ok {
			t.Errorf("%s does not set %s", d.Name, n)
			continue
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !secretResolves(e, r) {
			t.Errorf("%s: %s refers to a Secret key the chart does not render", d.Name, n)
		}
		if callee, ok := strings.CutSuffix(n, "_URL"); ok && !strings.Contains(n, "DATABASE") {
			// Callers spread their calls over every pod: the headless name.
			want := fmt.Sprintf("http://%s-ordermesh-%s-headless:8080", release, strings.ToLower(callee))
			if e.Value != want || !slices.ContainsFunc(r.services, func(s *corev1.Service) bool { return "http://"+s.Name+":8080" == want }) {
				t.Errorf("%s: %s = %q, want %q, a rendered Service", d.Name, n, e.Value, want)
			}
		}
	}
	for n := range env {
		ours := slices.Contains(known, n) || strings.HasPrefix(n, "OTEL_") || strings.HasPrefix(n, "PYROSCOPE_") || slices.Contains([]string{"GOMEMLIMIT", "POD_NAME", "POD_NAMESPACE"}, n)
		if !ours {
			t.Errorf("%s sets %s, which its binary does not read", d.Name, n)
		}
	}
}

// secretResolves reports whether e comes from a Secret the chart renders
// and a key it has, or from a Secret the user provides (existingSecret),
// which the chart cannot see.
func secretResolves(e corev1.EnvVar, r *rendered) bool {
	if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		return e.Value != ""
	}
	ref := e.ValueFrom.SecretKeyRef
	s, ok := r.secrets[ref.Name]
	if !ok {
		return !strings.HasPrefix(ref.Name, release+"-ordermesh-") // an existing Secret
	}
	_, has := s.StringData[ref.Key]
	return has
}

// checkPolicies evaluates the NetworkPolicies: every routing-table edge is
// allowed both ways (egress of the caller, ingress of the callee), the
// gateway reaches every service, each service reaches DNS and its
// database, and no service reaches one it does not call.
func checkPolicies(t *testing.T, r *rendered) {
	t.Helper()
	pods := map[string]map[string]string{}
	for _, d := range r.deployments {
		pods[component(d.Spec.Template.Labels)] = d.Spec.Template.Labels
	}
	for _, s := range r.statefulSets {
		pods[component(s.Spec.Template.Labels)] = s.Spec.Template.Labels
	}
	for _, p := range r.testPods {
		pods[component(p.Labels)] = p.Labels
	}
	if smoke, ok := pods["smoke"]; ok {
		// The helm test pod calls the gateway and reads the databases, and
		// nothing else.
		if !allowed(r.policies, smoke, pods["gateway"], 8080) {
			t.Error("NetworkPolicies block the helm test pod -> gateway:8080")
		}
		if pg, ok := pods["postgresql"]; ok && !allowed(r.policies, smoke, pg, 5432) {
			t.Error("NetworkPolicies block the helm test pod -> the database")
		}
		for _, svc := range mesh.Services {
			if egressAllowed(r.policies, smoke, pods[svc], 8080) {
				t.Errorf("NetworkPolicies let the helm test pod call %s directly", svc)
			}
		}
	}
	if gw, ok := pods["gateway"]; ok {
		// Prometheus reaches the gateway's metrics exactly as the services'.
		if got, want := metricsPeers(r.policies, gw), metricsPeers(r.policies, pods["catalog"]); want == nil || !reflect.DeepEqual(got, want) {
			t.Errorf("NetworkPolicies admit %+v to gateway:9090, want %+v as for the services", got, want)
		}
	}
	for _, from := range mesh.Services {
		for _, to := range mesh.Services {
			want := slices.Contains(mesh.Calls[from], to)
			got := allowed(r.policies, pods[from], pods[to], 8080)
			if got != want {
				t.Errorf("NetworkPolicies allow %s -> %s:8080 = %v; the routing table says %v", from, to, got, want)
			}
		}
		if _, ok := pods["gateway"]; ok && !allowed(r.policies, pods["gateway"], pods[from], 8080) {
			t.Errorf("NetworkPolicies block gateway -> %s:8080", from)
		}
		if pg, ok := pods["postgresql"]; ok && !allowed(r.policies, pods[from], pg, 5432) {
			t.Errorf("NetworkPolicies block %s -> its database", from)
		}
		if !egressAllowed(r.policies, pods[from], map[string]string{"k8s-app": "kube-dns"}, 53) {
			t.Errorf("NetworkPolicies block %s -> DNS", from)
		}
	}
}

// metricsPeers is who the policy governing pod admits on :9090; nil when
// no rule does.
func metricsPeers(policies []*networkingv1.NetworkPolicy, pod map[string]string) []networkingv1.NetworkPolicyPeer {
	for _, p := range policies {
		if !subset(p.Spec.PodSelector.MatchLabels, pod) {
			continue
		}
		for _, rule := range p.Spec.Ingress {
			if len(rule.Ports) > 0 && portsAllow(rule.Ports, 9090) {
				return append([]networkingv1.NetworkPolicyPeer{}, rule.From...)
			}
		}
	}
	return nil
}

func allowed(policies []*networkingv1.NetworkPolicy, from, to map[string]string, port int32) bool {
	return egressAllowed(policies, from, to, port) && ingressAllowed(policies, from, to, port)
}

func egressAllowed(policies []*networkingv1.NetworkPolicy, from, to map[string]string, port int32) bool {
	return admits(policies, networkingv1.PolicyTypeEgress, from, to, port)
}

func ingressAllowed(policies []*networkingv1.NetworkPolicy, from, to map[string]string, port int32) bool {
	return admits(policies, networkingv1.PolicyTypeIngress, to, from, port)
}

// admits reports whether the policies that govern pod in direction dir let
// it exchange traffic with peer on port: a pod no policy of that
// direction selects is open; otherwise one rule must match.
func admits(policies []*networkingv1.NetworkPolicy, dir networkingv1.PolicyType, pod, peer map[string]string, port int32) bool {
	governed := false
	for _, p := range policies {
		if !subset(p.Spec.PodSelector.MatchLabels, pod) || !slices.Contains(p.Spec.PolicyTypes, dir) {
			continue
		}
		governed = true
		if dir == networkingv1.PolicyTypeEgress {
			for _, rule := range p.Spec.Egress {
				if portsAllow(rule.Ports, port) && peersAllow(rule.To, peer) {
					return true
				}
			}
			continue
		}
		for _, rule := range p.Spec.Ingress {
			if portsAllow(rule.Ports, port) && peersAllow(rule.From, peer) {
				return true
			}
		}
	}
	return !governed
}

func portsAllow(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	return slices.ContainsFunc(ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port == nil || p.Port.IntVal == port })
}

// peersAllow matches a pod in the release's namespace (or, for DNS, a
// pod the namespaceSelector+podSelector pair names). An empty peer list
// allows everyone; an ipBlock never matches a pod.
func peersAllow(peers []networkingv1.NetworkPolicyPeer, pod map[string]string) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			continue
		}
		if p.PodSelector != nil && subset(p.PodSelector.MatchLabels, pod) {
			return true
		}
		if p.PodSelector == nil && p.NamespaceSelector != nil && len(p.NamespaceSelector.MatchLabels) == 0 {
			return true
		}
	}
	return false
}

// The bundled PostgreSQL has a headless governing Service, is ready only
// when it accepts connections, stops with a fast shutdown within its grace
// period, and allows every pool of every replica.
func TestBundledPostgresIsSizedAndStopsFast(t *testing.T) {
	for _, tc := range []struct {
		values []string
		conns  int
	}{
		{nil, 5*16 + 20},
		{[]string{"--set", "defaults.replicas=3", "--set", "services.order.autoscaling.enabled=true", "--set", "services.order.autoscaling.maxReplicas=6", "--set", "database.maxConns=8"}, (4*3+6)*8 + 20},
	} {
		r := render(t, tc.values)
		if len(r.statefulSets) != 1 {
			t.Fatalf("%d StatefulSets, want the bundled PostgreSQL", len(r.statefulSets))
		}
		sts := r.statefulSets[0]
		headless := false
		for _, s := range r.services {
			headless = headless || (s.Name == sts.Spec.ServiceName && s.Spec.ClusterIP == corev1.ClusterIPNone)
		}
		if !headless {
			t.Errorf("the StatefulSet's serviceName %q is not a headless Service", sts.Spec.ServiceName)
		}
		c := sts.Spec.Template.Spec.Containers[0]
		if want := fmt.Sprintf("max_connections=%d", tc.conns); !slices.Contains(c.Args, want) {
			t.Errorf("%v: postgres args %v, want %s", tc.values, c.Args, want)
		}
		if p := c.ReadinessProbe; p == nil || p.Exec == nil || !slices.Contains(p.Exec.Command, "pg_isready") {
			t.Errorf("readiness %+v, want pg_isready", p)
		}
		if h := c.Lifecycle; h == nil || h.PreStop == nil || h.PreStop.Exec == nil || !slices.Contains(h.PreStop.Exec.Command, "fast") {
			t.Errorf("preStop %+v, want a fast shutdown", h)
		}
		// Its password outlives an uninstall, as its volume does.
		kept := false
		for _, sec := range r.secrets {
			_, hasPassword := sec.StringData["postgres-password"]
			kept = kept || (hasPassword && sec.Annotations["helm.sh/resource-policy"] == "keep")
		}
		if !kept {
			t.Error("the Secret with the bundled PostgreSQL's password is not kept on uninstall")
		}
	}
}

// config.env, services.<name>.env and gateway.env replace a variable the
// chart sets; they never add a second one, which the API server would
// silently resolve to the last.
func TestEnvOverridesReplaceWithoutDuplicates(t *testing.T) {
	r := render(t, []string{"--set", "config.env.LOG_LEVEL=debug", "--set", "services.order.env.SHUTDOWN_DRAIN_DELAY=9s",
		"--set", "gateway.env.LOG_LEVEL=warn", "--set", "shutdown.endpointsLagSeconds=7"})
	for _, d := range r.deployments {
		seen := map[string]string{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if _, dup := seen[e.Name]; dup {
				t.Errorf("%s sets %s twice", d.Name, e.Name)
			}
			seen[e.Name] = e.Value
		}
		wantLevel, wantDrain := "debug", "7s"
		switch {
		case strings.HasSuffix(d.Name, "-gateway"):
			wantLevel = "warn"
		case strings.HasSuffix(d.Name, "-order"):
			wantDrain = "9s"
		}
		if seen["LOG_LEVEL"] != wantLevel || seen["SHUTDOWN_DRAIN_DELAY"] != wantDrain {
			t.Errorf("%s: LOG_LEVEL=%q SHUTDOWN_DRAIN_DELAY=%q, want %q and %q", d.Name, seen["LOG_LEVEL"], seen["SHUTDOWN_DRAIN_DELAY"], wantLevel, wantDrain)
		}
	}
}

// `helm test` runs the smoke test through the rendered gateway, with the
// signing key and database URLs from the rendered Secrets.
func TestHelmTestRunsTheSmokeThroughTheGateway(t *testing.T) {
	r := render(t, nil)
	if len(r.testPods) != 1 {
		t.Fatalf("%d test pods, want the smoke test", len(r.testPods))
	}
	p := r.testPods[0]
	c := p.Spec.Containers[0]
	if p.Annotations["helm.sh/hook"] != "test" || p.Spec.RestartPolicy != corev1.RestartPolicyNever || !strings.Contains(c.Image, "/smoke:") {
		t.Errorf("test pod %s: hook %q, restart %q, image %q; want a test hook running the smoke image once", p.Name, p.Annotations["helm.sh/hook"], p.Spec.RestartPolicy, c.Image)
	}
	addr := ""
	for i, a := range c.Args {
		if a == "-addr" && i+1 < len(c.Args) {
			addr = c.Args[i+1]
		}
	}
	if !slices.ContainsFunc(r.services, func(s *corev1.Service) bool {
		return strings.HasSuffix(s.Name, "-gateway") && addr == fmt.Sprintf("http://%s:%d", s.Name, s.Spec.Ports[0].Port)
	}) {
		t.Errorf("the smoke test calls %q, which is not the rendered gateway Service", addr)
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !secretResolves(e, r) && (e.ValueFrom.SecretKeyRef.Optional == nil || !*e.ValueFrom.SecretKeyRef.Optional) {
			t.Errorf("%s refers to a Secret key the chart does not render", e.Name)
		}
	}
	if len(render(t, []string{"--set", "tests.enabled=false"}).testPods) != 0 {
		t.Error("tests.enabled=false still renders the test pod")
	}
}

// The gateway is scraped like the services: a metrics port on the pod and
// its Service, the prometheus.io annotations, and the ServiceMonitor.
func TestGatewayIsScraped(t *testing.T) {
	r := render(t, variants(t)["production"])
	var gw *appsv1.Deployment
	for _, d := range r.deployments {
		if component(d.Spec.Template.Labels) == "gateway" {
			gw = d
		}
	}
	if gw == nil {
		t.Fatal("production renders no gateway")
	}
	c := gw.Spec.Template.Spec.Containers[0]
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == 9090 }) {
		t.Errorf("gateway ports %+v, want metrics on 9090", c.Ports)
	}
	if a := gw.Spec.Template.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "9090" {
		t.Errorf("gateway pod annotations %v, want prometheus.io/scrape and port 9090", a)
	}
	if !slices.ContainsFunc(r.services, func(s *corev1.Service) bool {
		return subset(s.Spec.Selector, gw.Spec.Template.Labels) &&
			slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" && p.Port == 9090 })
	}) {
		t.Error("no Service exposes the gateway's metrics port, so the ServiceMonitor cannot find it")
	}
	out, err := helm(t, "template", release, chart(t), "--kube-version", KubeVersion, "-f", filepath.Join(chart(t), "ci", "production-values.yaml"), "--show-only", "templates/servicemonitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sm monitoringv1.ServiceMonitor
	if err := yaml.UnmarshalStrict(out, &sm); err != nil {
		t.Fatal(err)
	}
	selects := false
	for _, e := range sm.Spec.Selector.MatchExpressions {
		selects = selects || (e.Key == "app.kubernetes.io/component" && slices.Contains(e.Values, "gateway"))
	}
	if !selects {
		t.Errorf("the ServiceMonitor selects %+v, not the gateway", sm.Spec.Selector)
	}
}

// A preStop hook is a value, for every service, one service, and the
// gateway; none by default, since the binaries drain by themselves.
func TestPreStopIsAValue(t *testing.T) {
	for _, d := range render(t, nil).deployments {
		if d.Spec.Template.Spec.Containers[0].Lifecycle != nil {
			t.Errorf("%s has a lifecycle hook by default", d.Name)
		}
	}
	r := render(t, []string{"--set", "defaults.preStop.sleep.seconds=4", "--set", "services.order.preStop.sleep.seconds=9",
		"--set", "gateway.preStop.sleep.seconds=3", "--set", "shutdown.finishSeconds=30"})
	for _, d := range r.deployments {
		want := int64(4)
		switch component(d.Spec.Template.Labels) {
		case "order":
			want = 9
		case "gateway":
			want = 3
		}
		// The grace period covers the hook, the drain (10 s by default),
		// the calls' time to finish, and 5 s to spare.
		if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != want+10+30+5 {
			t.Errorf("%s: terminationGracePeriodSeconds = %v, want %d", d.Name, g, want+10+30+5)
		}
		l := d.Spec.Template.Spec.Containers[0].Lifecycle
		if l == nil || l.PreStop == nil || l.PreStop.Sleep == nil || l.PreStop.Sleep.Seconds != want {
			t.Errorf("%s: lifecycle %+v, want a preStop sleep of %d s", d.Name, l, want)
		}
	}
	if _, err := helm(t, "template", release, chart(t), "--kube-version", KubeVersion, "--set", "defaults.preStop.sleep.seconds=0"); err == nil || !strings.Contains(err.Error(), "preStop") {
		t.Errorf("a zero-second preStop sleep: err = %v, want it refused naming preStop", err)
	}
}
