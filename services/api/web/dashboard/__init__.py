"""The site dashboard: tiles, chart, panels, realtime, sharing, roll-up, annotations."""
