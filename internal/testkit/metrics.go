package testkit

import dto "github.com/prometheus/client_model/go"

// Sample returns the value of the first series of mf whose labels include
// labels (a histogram's: its sample count), and whether there is one. mf
// may be nil.
func Sample(mf *dto.MetricFamily, labels map[string]string) (float64, bool) {
next:
	for _, m := range mf.GetMetric() {
		got := make(map[string]string, len(m.GetLabel()))
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}
