// Package probe drives the real terraform-provider-github v6.13.0 code (the
// upstream of pulumi-github 6.15.0) against the slipway GitHub API test
// double, resource by resource, the way the Pulumi bridge calls it:
// Configure, then Create/Read/Update/Delete of each resource slipway uses.
//
// Run by tests/sandbox/test_github_provider_probe.py; needs
// GITHUB_DOUBLE_URL, GITHUB_DOUBLE_TOKEN, PROBE_OWNER and PROBE_REPO.
package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/hashicorp/terraform-plugin-sdk/v2/diag"
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/hashicorp/terraform-plugin-sdk/v2/terraform"
	"github.com/integrations/terraform-provider-github/v6/github"
)

func env(t *testing.T, name string) string {
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("%s not set", name)
	}
	return v
}

func must(t *testing.T, what string, d diag.Diagnostics) {
	t.Helper()
	if d.HasError() {
		t.Fatalf("%s: %+v", what, d)
	}
}

type probe struct {
	t       *testing.T
	ctx     context.Context
	p       *schema.Provider
	meta    any
	url     string
	token   string
	owner   string
	repo    string
	envName string
}

func (pr *probe) resource(name string) *schema.Resource {
	r, ok := pr.p.ResourcesMap[name]
	if !ok {
		pr.t.Fatalf("no resource %s", name)
	}
	return r
}

func (pr *probe) dataSource(name string) *schema.Resource {
	r, ok := pr.p.DataSourcesMap[name]
	if !ok {
		pr.t.Fatalf("no data source %s", name)
	}
	return r
}

// data builds resource data from a raw config, computing defaults like a plan does.
func (pr *probe) data(r *schema.Resource, raw map[string]any) *schema.ResourceData {
	return schema.TestResourceDataRaw(pr.t, r.Schema, raw)
}

// withState returns fresh resource data for raw config on top of d's state (as an update plan does).
func (pr *probe) withState(r *schema.Resource, d *schema.ResourceData, raw map[string]any) *schema.ResourceData {
	pr.t.Helper()
	state := d.State()
	cfg := terraform.NewResourceConfigRaw(raw)
	diff, err := schema.InternalMap(r.Schema).Diff(pr.ctx, state, cfg, nil, pr.meta, true)
	if err != nil {
		pr.t.Fatalf("diff: %v", err)
	}
	nd, err := schema.InternalMap(r.Schema).Data(state, diff)
	if err != nil {
		pr.t.Fatalf("data: %v", err)
	}
	return nd
}

// doublePost calls the double's own seeding API (/_double/...).
func doublePost(t *testing.T, url, token, path string, body map[string]any) map[string]any {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url+path, bytes.NewReader(data))
	req.Header.Set("Authorization", "token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 201 {
		t.Fatalf("POST %s: %d %v", path, resp.StatusCode, err)
	}
	return out
}

func (pr *probe) doubleState() map[string]any {
	pr.t.Helper()
	req, _ := http.NewRequest("GET", pr.url+"_double/state", nil)
	req.Header.Set("Authorization", "token "+pr.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		pr.t.Fatalf("double state: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		pr.t.Fatalf("double state: %v", err)
	}
	repos := out["repos"].(map[string]any)
	r, ok := repos[pr.owner+"/"+pr.repo].(map[string]any)
	if !ok {
		pr.t.Fatalf("repo %s/%s not in double state", pr.owner, pr.repo)
	}
	return r
}

func (pr *probe) doubleEnv() map[string]any {
	envs := pr.doubleState()["environments"].(map[string]any)
	e, _ := envs[pr.envName].(map[string]any)
	return e
}

func TestProviderAgainstDouble(t *testing.T) {
	ctx := context.Background()
	pr := &probe{
		t: t, ctx: ctx,
		url: env(t, "GITHUB_DOUBLE_URL"), token: env(t, "GITHUB_DOUBLE_TOKEN"),
		owner: env(t, "PROBE_OWNER"), repo: env(t, "PROBE_REPO"),
		envName: "prod env/eu",
	}
	pr.p = github.NewProvider("6.13.0", "probe")()
	must(t, "configure", pr.p.Configure(ctx, terraform.NewResourceConfigRaw(map[string]any{
		"token":          pr.token,
		"base_url":       pr.url,
		"owner":          pr.owner,
		"write_delay_ms": 1,
	})))
	pr.meta = pr.p.Meta()

	// Data sources a program may use to find reviewers and the repository.
	ud := pr.data(pr.dataSource("github_user"), map[string]any{"username": "alice"})
	must(t, "github_user read", pr.dataSource("github_user").ReadContext(ctx, ud, pr.meta))
	aliceID, _ := strconv.Atoi(ud.Id())
	if aliceID == 0 || ud.Get("login") != "alice" {
		t.Fatalf("github_user: id=%q login=%v", ud.Id(), ud.Get("login"))
	}
	rd := pr.data(pr.dataSource("github_repository"), map[string]any{"name": pr.repo})
	must(t, "github_repository read", pr.dataSource("github_repository").ReadContext(ctx, rd, pr.meta))
	if rd.Id() != pr.repo || rd.Get("repo_id").(int) == 0 || rd.Get("full_name") != pr.owner+"/"+pr.repo {
		t.Fatalf("github_repository: id=%q repo_id=%v full_name=%v", rd.Id(), rd.Get("repo_id"), rd.Get("full_name"))
	}

	// Environment with reviewers, wait timer and custom branch policies.
	envR := pr.resource("github_repository_environment")
	envCfg := map[string]any{
		"repository":          pr.repo,
		"environment":         pr.envName,
		"wait_timer":          30,
		"prevent_self_review": true,
		"can_admins_bypass":   false,
		"reviewers":           []any{map[string]any{"users": []any{aliceID}}},
		"deployment_branch_policy": []any{map[string]any{
			"protected_branches": false, "custom_branch_policies": true,
		}},
	}
	ed := pr.data(envR, envCfg)
	must(t, "environment create", envR.CreateContext(ctx, ed, pr.meta))
	must(t, "environment read", envR.ReadContext(ctx, ed, pr.meta))
	if ed.Id() == "" || ed.Get("wait_timer") != 30 || ed.Get("prevent_self_review") != true || ed.Get("can_admins_bypass") != false {
		t.Fatalf("environment after read: id=%q wait=%v psr=%v bypass=%v", ed.Id(), ed.Get("wait_timer"), ed.Get("prevent_self_review"), ed.Get("can_admins_bypass"))
	}
	users := ed.Get("reviewers.0.users").(*schema.Set).List()
	if len(users) != 1 || users[0] != aliceID {
		t.Fatalf("reviewers after read: %v", users)
	}
	if ed.Get("deployment_branch_policy.0.custom_branch_policies") != true {
		t.Fatalf("deployment_branch_policy after read: %v", ed.Get("deployment_branch_policy"))
	}

	// Deployment branch policy.
	polR := pr.resource("github_repository_environment_deployment_policy")
	pd := pr.data(polR, map[string]any{"repository": pr.repo, "environment": pr.envName, "branch_pattern": "main"})
	must(t, "policy create", polR.CreateContext(ctx, pd, pr.meta))
	must(t, "policy read", polR.ReadContext(ctx, pd, pr.meta))
	pd2 := pr.withState(polR, pd, map[string]any{"repository": pr.repo, "environment": pr.envName, "branch_pattern": "release/*"})
	must(t, "policy update", polR.UpdateContext(ctx, pd2, pr.meta))
	must(t, "policy read 2", polR.ReadContext(ctx, pd2, pr.meta))
	if pd2.Get("branch_pattern") != "release/*" {
		t.Fatalf("policy after update: %v", pd2.Get("branch_pattern"))
	}

	// Environment secret: the provider seals it to the environment's key.
	secR := pr.resource("github_actions_environment_secret")
	secretValue := "s3cr3t-\u00fc-" + pr.repo
	sd := pr.data(secR, map[string]any{"repository": pr.repo, "environment": pr.envName, "secret_name": "DB_PASSWORD", "value": secretValue})
	must(t, "secret create", secR.CreateContext(ctx, sd, pr.meta))
	must(t, "secret read", secR.ReadContext(ctx, sd, pr.meta))
	if sd.Id() == "" || sd.Get("remote_updated_at") == "" {
		t.Fatalf("secret after read: id=%q remote_updated_at=%v", sd.Id(), sd.Get("remote_updated_at"))
	}
	got := pr.doubleEnv()["secrets"].(map[string]any)["DB_PASSWORD"].(map[string]any)["value"]
	if got != secretValue {
		t.Fatalf("double decrypted %q, want %q", got, secretValue)
	}
	sd2 := pr.withState(secR, sd, map[string]any{"repository": pr.repo, "environment": pr.envName, "secret_name": "DB_PASSWORD", "value": secretValue + "-2"})
	must(t, "secret update", secR.UpdateContext(ctx, sd2, pr.meta))
	got = pr.doubleEnv()["secrets"].(map[string]any)["DB_PASSWORD"].(map[string]any)["value"]
	if got != secretValue+"-2" {
		t.Fatalf("double decrypted %q after update", got)
	}

	// Environment variable.
	varR := pr.resource("github_actions_environment_variable")
	vd := pr.data(varR, map[string]any{"repository": pr.repo, "environment": pr.envName, "variable_name": "APP_URL", "value": "http://one"})
	must(t, "variable create", varR.CreateContext(ctx, vd, pr.meta))
	must(t, "variable read", varR.ReadContext(ctx, vd, pr.meta))
	vd2 := pr.withState(varR, vd, map[string]any{"repository": pr.repo, "environment": pr.envName, "variable_name": "APP_URL", "value": "http://two"})
	must(t, "variable update", varR.UpdateContext(ctx, vd2, pr.meta))
	must(t, "variable read 2", varR.ReadContext(ctx, vd2, pr.meta))
	if vd2.Get("value") != "http://two" {
		t.Fatalf("variable after update: %v", vd2.Get("value"))
	}

	// List-style data sources.
	for _, ds := range []struct {
		name string
		cfg  map[string]any
		key  string
	}{
		{"github_actions_environment_secrets", map[string]any{"name": pr.repo, "environment": pr.envName}, "secrets"},
		{"github_actions_environment_variables", map[string]any{"name": pr.repo, "environment": pr.envName}, "variables"},
		{"github_repository_environments", map[string]any{"repository": pr.repo}, "environments"},
		{"github_repository_environment_deployment_policies", map[string]any{"repository": pr.repo, "environment": pr.envName}, "policies"},
		{"github_actions_environment_public_key", map[string]any{"repository": pr.repo, "environment": pr.envName}, "key"},
	} {
		r := pr.dataSource(ds.name)
		d := pr.data(r, ds.cfg)
		must(t, ds.name, r.ReadContext(ctx, d, pr.meta))
		v := d.Get(ds.key)
		if l, ok := v.([]any); (ok && len(l) != 1) || v == "" || v == nil {
			t.Fatalf("%s.%s = %v", ds.name, ds.key, v)
		}
	}

	// Tear down in reverse order; the double must end up without the environment.
	must(t, "variable delete", varR.DeleteContext(ctx, vd2, pr.meta))
	must(t, "secret delete", secR.DeleteContext(ctx, sd2, pr.meta))
	must(t, "policy delete", polR.DeleteContext(ctx, pd2, pr.meta))
	must(t, "environment delete", envR.DeleteContext(ctx, ed, pr.meta))
	must(t, "environment read after delete", envR.ReadContext(ctx, ed, pr.meta))
	if ed.Id() != "" {
		t.Fatalf("environment still present after delete")
	}
	if e := pr.doubleEnv(); e != nil {
		t.Fatalf("double still has environment: %v", e)
	}
	fmt.Println("provider probe: ok")
}

// An organization owner (GET /orgs/{org} answers 200), a team reviewer found with
// the github_team data source, and a provider without owner (owner from GET /user).
func TestProviderOrgOwnerAndTeamReviewer(t *testing.T) {
	ctx := context.Background()
	url, token := env(t, "GITHUB_DOUBLE_URL"), env(t, "GITHUB_DOUBLE_TOKEN")
	org := env(t, "PROBE_OWNER") + "-org"
	repo := env(t, "PROBE_REPO")
	doublePost(t, url, token, "_double/orgs", map[string]any{"login": org})
	doublePost(t, url, token, "_double/teams", map[string]any{"org": org, "slug": "ops", "name": "Ops"})

	p := github.NewProvider("6.13.0", "probe")()
	must(t, "configure", p.Configure(ctx, terraform.NewResourceConfigRaw(map[string]any{
		"token": token, "base_url": url, "owner": org, "write_delay_ms": 1,
	})))
	pr := &probe{t: t, ctx: ctx, p: p, meta: p.Meta(), url: url, token: token, owner: org, repo: repo, envName: "staging"}

	td := pr.data(pr.dataSource("github_team"), map[string]any{"slug": "ops"})
	must(t, "github_team read", pr.dataSource("github_team").ReadContext(ctx, td, pr.meta))
	teamID, _ := strconv.Atoi(td.Id())
	if teamID == 0 || td.Get("name") != "Ops" {
		t.Fatalf("github_team: id=%q name=%v", td.Id(), td.Get("name"))
	}
	envR := pr.resource("github_repository_environment")
	ed := pr.data(envR, map[string]any{
		"repository": repo, "environment": pr.envName,
		"reviewers": []any{map[string]any{"teams": []any{teamID}}},
	})
	must(t, "environment create", envR.CreateContext(ctx, ed, pr.meta))
	must(t, "environment read", envR.ReadContext(ctx, ed, pr.meta))
	teams := ed.Get("reviewers.0.teams").(*schema.Set).List()
	if len(teams) != 1 || teams[0] != teamID {
		t.Fatalf("team reviewers after read: %v", teams)
	}
	if len(ed.Get("deployment_branch_policy").([]any)) != 0 {
		t.Fatalf("deployment_branch_policy should be empty: %v", ed.Get("deployment_branch_policy"))
	}
	must(t, "environment delete", envR.DeleteContext(ctx, ed, pr.meta))

	// No owner configured: the provider asks GET /user who it is.
	p2 := github.NewProvider("6.13.0", "probe")()
	must(t, "configure without owner", p2.Configure(ctx, terraform.NewResourceConfigRaw(map[string]any{
		"token": token, "base_url": url, "write_delay_ms": 1,
	})))
	rds := p2.DataSourcesMap["github_repository"]
	rd := schema.TestResourceDataRaw(t, rds.Schema, map[string]any{"name": repo})
	must(t, "github_repository read (owner from /user)", rds.ReadContext(ctx, rd, p2.Meta()))
	if fn, _ := rd.Get("full_name").(string); fn == "" || fn == org+"/"+repo {
		t.Fatalf("owner from GET /user: full_name=%q", fn)
	}
	fmt.Println("provider probe (org, team, owner from /user): ok")
}

// The provider's newer client (legacy_client = false: go-github behind a caching,
// rate-limit-aware transport) against the double.
func TestProviderNewClient(t *testing.T) {
	ctx := context.Background()
	url, token := env(t, "GITHUB_DOUBLE_URL"), env(t, "GITHUB_DOUBLE_TOKEN")
	owner, repo := env(t, "PROBE_OWNER"), env(t, "PROBE_REPO")+"-new-client"
	p := github.NewProvider("6.13.0", "probe")()
	must(t, "configure", p.Configure(ctx, terraform.NewResourceConfigRaw(map[string]any{
		"token": token, "base_url": url, "owner": owner, "legacy_client": false,
	})))
	pr := &probe{t: t, ctx: ctx, p: p, meta: p.Meta(), url: url, token: token, owner: owner, repo: repo, envName: "dev"}
	envR := pr.resource("github_repository_environment")
	ed := pr.data(envR, map[string]any{"repository": repo, "environment": pr.envName})
	must(t, "environment create", envR.CreateContext(ctx, ed, pr.meta))
	secR := pr.resource("github_actions_environment_secret")
	sd := pr.data(secR, map[string]any{"repository": repo, "environment": pr.envName, "secret_name": "K", "value": "v1"})
	must(t, "secret create", secR.CreateContext(ctx, sd, pr.meta))
	must(t, "secret read", secR.ReadContext(ctx, sd, pr.meta))
	if got := pr.doubleEnv()["secrets"].(map[string]any)["K"].(map[string]any)["value"]; got != "v1" {
		t.Fatalf("double decrypted %q", got)
	}
	must(t, "environment read", envR.ReadContext(ctx, ed, pr.meta))
	must(t, "environment delete", envR.DeleteContext(ctx, ed, pr.meta))
	fmt.Println("provider probe (new client): ok")
}
