"""Test instruments shared by the test packages: a real Mosquitto broker and a throwaway PostgreSQL database."""
