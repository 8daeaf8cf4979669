package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sluicehq/sluice/api"
	"github.com/sluicehq/sluice/config"
)

func isServices(collection string) bool {
	return collection == "services" || collection == "service" || collection == "svc"
}

// getServices prints services as applied and as they run now: the
// declared version, the live split and the release moving it.
func getServices(ctx context.Context, cl *api.Client, w io.Writer, names []string) error {
	list, err := cl.List(ctx, "services")
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROTOCOL\tPORT\tDECLARED\tLIVE SPLIT\tRELEASE\tDOMAINS\tDEPENDS ON")
	found := 0
	for _, it := range list.Items {
		var s config.Service
		if err := json.Unmarshal(it, &s); err != nil {
			return fmt.Errorf("decode service: %w", err)
		}
		if len(names) > 0 && s.Metadata.Name != names[0] {
			continue
		}
		found++
		live := list.Live[s.Metadata.Name]
		port := "-"
		if s.Spec.Port != 0 {
			port = fmt.Sprint(s.Spec.Port)
		}
		declared := "static"
		if s.Spec.Version != "" {
			declared = s.Spec.Version
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Metadata.Name, s.Spec.Protocol, port, declared,
			liveSplit(&s, live.Split), releaseCell(live), dash(strings.Join(s.Spec.Domains, ",")), dash(strings.Join(s.Spec.DependsOn, ",")))
	}
	if len(names) > 0 && found == 0 {
		_, err := cl.Get(ctx, "services", names[0]) // the server's not-found error
		if err == nil {
			err = fmt.Errorf("service %q not found", names[0])
		}
		return err
	}
	return tw.Flush()
}

// liveSplit renders every version's share now and its endpoints.
func liveSplit(s *config.Service, split []api.VersionShare) string {
	parts := make([]string, len(s.Spec.Versions))
	for i, v := range s.Spec.Versions {
		w := uint32(0)
		if i < len(split) {
			w = split[i].Weight
		}
		eps := fmt.Sprintf("%d ep", len(v.Endpoints))
		if v.Discovery != nil {
			eps = v.Discovery.Source() // `sluice endpoints` lists what it found
		}
		parts[i] = fmt.Sprintf("%s=%d%% (%s)", v.Name, w, eps)
	}
	return dash(strings.Join(parts, ", "))
}

func releaseCell(l api.ServiceLive) string {
	if l.Release == "" {
		return "-"
	}
	return fmt.Sprintf("%s (%s %s)", l.Release, l.Phase, stepOf(l.Step, l.Steps))
}
